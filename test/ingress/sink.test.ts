import { ingressContract } from "./contract.ts";

/** The Kafka Connect HTTP sink: a batch is one POST (here newline-delimited values); 200 is the ack. */
ingressContract("HTTP sink (newline-delimited)", (h) => ({
  async deliver(values) {
    const res = await h.post("/sink/runs", values.join("\n"));
    return { acked: res.status === 200 };
  },
}));

ingressContract("HTTP sink (JSON array)", (h) => ({
  async deliver(values) {
    const res = await h.post("/sink/runs", `[${values.join(",")}]`);
    return { acked: res.status === 200 };
  },
}));
