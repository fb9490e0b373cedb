/**
 * How long an idle HTTP connection stays open. Longer than the reverse proxies in front of the
 * cloud keep theirs (Caddy 2 min, nginx `keepalive_timeout` 60 s, cloud load balancers 60-350 s
 * with their own setting): a proxy must never send a request on a connection the cloud is
 * closing, which it would answer with 502.
 */
export const KEEP_ALIVE_MS = 125_000;
