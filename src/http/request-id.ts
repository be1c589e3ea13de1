import type { MiddlewareHandler } from "hono";
import { requestId, type RequestIdVariables } from "hono/request-id";

/**
 * Every request of a way in gets an id of portside's own (an incoming X-Request-Id is not read, so nothing a
 * sender chose is repeated): answered as X-Request-Id, logged, and kept with the runs it brought.
 */
export function ownRequestId(): MiddlewareHandler<{ Variables: RequestIdVariables }>[] {
  return [
    requestId({ headerName: "" }),
    async (c, next) => {
      c.header("X-Request-Id", c.get("requestId"));
      await next();
    },
  ];
}
