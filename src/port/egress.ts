/**
 * The addresses Port calls webhooks from, per region, as Port publishes them ("Port IP addresses for allow
 * lists", docs.port.io/actions-and-automations/create-self-service-experiences/security/, checked December
 * 2026): the presets of WEBHOOK_ALLOW.
 */
export const PORT_EGRESS: Readonly<Record<string, readonly string[]>> = {
  "port-eu": ["3.251.12.205", "34.252.219.131", "54.75.236.107"],
  "port-us": ["44.221.30.248", "44.193.148.179", "34.197.132.205"],
};
