/**
 * The agent's metrics, one registry per process (lib/metrics/registry.ts).
 * The broker, the audit settle path and the transport count into it
 * whether or not the endpoint is enabled (a few additions per request); the
 * `[metrics]` endpoint (lib/metrics/server.ts) only renders it.
 *
 * Label values are bounded and name no secret: gRPC service and method names
 * the server serves (any other path is `unknown`), status codes, policy op
 * tokens, outcome classes, backend names from the catalog, abuse kinds and
 * reasons with numbers stripped. Subjects appear only in
 * `basil_decisions_by_subject_total`, filled only with `[metrics]
 * subject-labels = true`; key names never.
 * @module
 */

import { Registry } from "./registry.ts";
import type { Counter, Gauge, Histogram } from "./registry.ts";

/** The agent's metric families. */
export interface AgentMetrics {
  readonly registry: Registry;
  readonly requests: Counter;
  readonly latency: Histogram;
  readonly decisions: Counter;
  readonly decisionsBySubject: Counter;
  readonly auditRecords: Counter;
  readonly auditFailures: Counter;
  readonly connectionsOpen: Gauge;
  readonly connections: Counter;
  readonly streamsOpen: Gauge;
  readonly generation: Gauge;
  readonly backendUp: Gauge;
  readonly minted: Counter;
  readonly abuse: Counter;
  readonly abuseLogSuppressed: Counter;
}

/** Latency buckets, seconds: 100 µs to 10 s. */
export const LATENCY_BUCKETS = [
  0.0001,
  0.00025,
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

/** Builds the agent's metric families on a fresh registry. */
export function agentMetricFamilies(registry: Registry = new Registry()): AgentMetrics {
  return {
    registry,
    requests: registry.counter(
      "basil_grpc_requests_total",
      "gRPC calls answered, by service, method and status code.",
      ["service", "method", "code"],
    ),
    latency: registry.histogram(
      "basil_grpc_request_duration_seconds",
      "Time from a call's headers to its status, by service and method.",
      ["service", "method"],
      LATENCY_BUCKETS,
    ),
    decisions: registry.counter(
      "basil_decisions_total",
      "Authorization decisions as settled in the audit log, by policy op and outcome.",
      ["op", "outcome"],
    ),
    decisionsBySubject: registry.counter(
      "basil_decisions_by_subject_total",
      "Decisions by subject (only with [metrics] subject-labels = true).",
      ["op", "outcome", "subject"],
    ),
    auditRecords: registry.counter(
      "basil_audit_records_total",
      "Decision records written to the audit sink.",
    ),
    auditFailures: registry.counter(
      "basil_audit_write_failures_total",
      "Audit records (or syncs) that could not be written; the allowed operation was refused.",
    ),
    connectionsOpen: registry.gauge(
      "basil_connections_open",
      "Client connections open on the broker socket.",
    ),
    connections: registry.counter(
      "basil_connections_total",
      "Client connections accepted (after their peer credentials were read).",
    ),
    streamsOpen: registry.gauge(
      "basil_streams_open",
      "gRPC calls in progress.",
    ),
    generation: registry.gauge(
      "basil_generation",
      "The catalog+policy generation requests are served from (bumped by each reload).",
    ),
    backendUp: registry.gauge(
      "basil_backend_up",
      "1 when the last request that reached the backend did not find it unavailable, else 0.",
      ["backend"],
    ),
    minted: registry.counter(
      "basil_minted_total",
      "Credentials issued (X.509- and JWT-SVIDs, certificates): allowed mint decisions that succeeded.",
    ),
    abuse: registry.counter(
      "basil_abuse_total",
      "Refused or misbehaving connections and calls, by kind and reason.",
      ["kind", "reason"],
    ),
    abuseLogSuppressed: registry.counter(
      "basil_abuse_log_suppressed_total",
      "Abuse log lines not written because the per-reason rate was exceeded.",
    ),
  };
}

/** The process's metrics. */
export const agentMetrics: AgentMetrics = agentMetricFamilies();

/** Whether `basil_decisions_by_subject_total` is filled (`[metrics] subject-labels`). */
let subjectLabels = false;

/** Turns subject labels on or off (the daemon, from `[metrics] subject-labels`). */
export function setSubjectLabels(on: boolean): void {
  subjectLabels = on;
}

/** Counts one settled decision. */
export function countDecision(op: string, outcome: string, subject: string | undefined): void {
  agentMetrics.decisions.inc({ op, outcome });
  if (subjectLabels) {
    agentMetrics.decisionsBySubject.inc({ op, outcome, subject: subject ?? "unresolved" });
  }
  if (op === "mint" && outcome === "allow") agentMetrics.minted.inc();
}

/** `service`/`method` labels of a gRPC path the server serves. */
export function methodLabels(path: string): { service: string; method: string } {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  return m ? { service: m[1]!, method: m[2]! } : { service: "unknown", method: "unknown" };
}

/** An abuse reason fit for a label: numbers stripped, parentheses dropped, bounded length. */
export function abuseReason(detail: string): string {
  return detail.replace(/\s*\(.*$/, "").replace(/-?\d+/g, "N").slice(0, 64);
}
