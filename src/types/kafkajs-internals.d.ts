/** kafkajs's request queue, reached by path to fix its scheduling (see src/shared/kafka.ts). */
declare module "kafkajs/src/network/requestQueue/index.js" {
  const RequestQueue: { prototype: unknown };
  export default RequestQueue;
}
