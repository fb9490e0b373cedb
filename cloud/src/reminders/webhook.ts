import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signWebhook } from './signature.js';

/** Loopback, private, link-local, CGNAT, multicast and reserved ranges: not a webhook's business. */
const PRIVATE = new net.BlockList();
for (const [a, p] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  PRIVATE.addSubnet(a, p, 'ipv4');
for (const [a, p] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
] as const)
  PRIVATE.addSubnet(a, p, 'ipv6');

export function isPrivateAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return PRIVATE.check(mapped[1]!, 'ipv4');
  const family = net.isIPv4(address) ? 'ipv4' : net.isIPv6(address) ? 'ipv6' : undefined;
  return family === undefined || PRIVATE.check(address, family);
}

/**
 * A DNS lookup that refuses private addresses. Given to the HTTP request itself, so the address
 * checked is the address connected to (no second resolution an attacker's DNS could change).
 */
function guardedLookup(
  hostname: string,
  options: { all?: boolean; family?: number | string },
  callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
): void {
  dnsLookup(hostname, { ...options, all: true } as { all: true }, (err, addresses) => {
    if (err) return callback(err, '');
    const bad = addresses.find((a) => isPrivateAddress(a.address));
    if (bad || addresses.length === 0)
      return callback(new Error(`${hostname} resolves to a private or reserved address`), '');
    if (options.all) return callback(null, addresses);
    callback(null, addresses[0]!.address, addresses[0]!.family);
  });
}

export interface WebhookResult {
  ok: boolean;
  status: number | null;
  error: string | null;
}

/** The host part shown in logs and the delivery log: never the path or query (they may hold tokens). */
export function webhookHost(url: string): string {
  return new URL(url).host;
}

/**
 * POSTs a signed JSON body. Success is a 2xx answer; redirects are not followed. The error
 * text names the host at most, never the URL or the secret.
 */
export async function postWebhook(o: {
  url: string;
  secret: string;
  body: string;
  deliveryId: string;
  nowSeconds: number;
  allowPrivate: boolean;
  timeoutMs?: number;
}): Promise<WebhookResult> {
  const u = new URL(o.url);
  const literal = u.hostname.replace(/^\[|\]$/g, '');
  if (!o.allowPrivate && net.isIP(literal) && isPrivateAddress(literal))
    return { ok: false, status: null, error: `${u.host} is a private or reserved address` };
  const mod = u.protocol === 'https:' ? https : http;
  const payload = Buffer.from(o.body, 'utf8');
  return new Promise<WebhookResult>((resolve) => {
    const req = mod.request(
      u,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': payload.length,
          'user-agent': 'RigTrace-Reminders/1',
          [SIGNATURE_HEADER]: signWebhook(o.secret, o.body, o.nowSeconds),
          [DELIVERY_HEADER]: o.deliveryId,
        },
        timeout: o.timeoutMs ?? 10_000,
        ...(o.allowPrivate ? {} : { lookup: guardedLookup }),
      },
      (res) => {
        res.resume(); // the answer's body is not kept
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const ok = status >= 200 && status < 300;
          resolve({ ok, status, error: ok ? null : `${u.host} answered HTTP ${status}` });
        });
        res.on('error', (err) => resolve({ ok: false, status: res.statusCode ?? null, error: err.message }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${u.host} did not answer in time`)));
    req.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      resolve({ ok: false, status: null, error: code ? `${code}: ${err.message}` : err.message });
    });
    req.end(payload);
  });
}
