/**
 * A secret value that prints as `[redacted]` in logs, JSON and string interpolation; `reveal()` gives it to
 * the code that needs it (a secret input of an object type reveals the object).
 */
export class Secret<T = string> {
  readonly #value: T;
  constructor(value: T) {
    this.#value = value;
  }
  reveal(): T {
    return this.#value;
  }
  toString(): string {
    return "[redacted]";
  }
  toJSON(): string {
    return "[redacted]";
  }
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return "[redacted]";
  }
}
