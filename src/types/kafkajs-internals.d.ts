/** kafkajs's request queue, reached by path to fix its scheduling (see src/shared/kafka.ts). */
declare module "kafkajs/src/network/requestQueue/index.js" {
  const RequestQueue: { prototype: unknown };
  export default RequestQueue;
}

/** kafkajs's consumer runner, reached by path by the tests that make it fail (test/support/kafka-faults.ts). */
declare module "kafkajs/src/consumer/runner.js" {
  const Runner: { prototype: unknown };
  export default Runner;
}
