/** Cuts `text` to at most `max` characters, ending in "…" when it was cut (Port's summary limit, log fields). */
export const truncate = (text: string, max: number): string => (text.length <= max ? text : `${text.slice(0, max - 1)}…`);
