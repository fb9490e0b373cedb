import http from 'node:http';
import https from 'node:https';

export interface PostAnswer {
  status: number;
  statusText: string;
  /** The JSON answer, or {} when the body is not a JSON object. */
  json: Record<string, unknown>;
  /** The Retry-After header, as sent (seconds or an HTTP date), or null. */
  retryAfter: string | null;
}

/** Answers from the cloud are small; anything bigger is not one of ours. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * POSTs a JSON body over one kept-alive connection, with node:http(s). The edge sends one batch
 * at a time to one origin, which is all this does; it does not use fetch because loading fetch's
 * implementation (undici) costs ~250 ms of CPU and 15–30 MB of peak memory on a small gateway.
 */
export class JsonPoster {
  private readonly agent: http.Agent;
  private readonly request: typeof http.request;

  constructor(secure: boolean) {
    this.agent = secure
      ? new https.Agent({ keepAlive: true, maxSockets: 1 })
      : new http.Agent({ keepAlive: true, maxSockets: 1 });
    this.request = secure ? https.request : http.request;
  }

  /** Rejects with `signal.reason` when the signal aborts, and with the network error otherwise. */
  post(url: URL, body: string, headers: Record<string, string>, signal: AbortSignal): Promise<PostAnswer> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (err: Error | null, answer?: PostAnswer) => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(answer!);
      };
      const req = this.request(url, {
        method: 'POST',
        agent: this.agent,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body, 'utf8')) },
      });
      // Persistent: a destroyed request can emit more than one error.
      req.on('error', (err) => settle(err));
      const onAbort = () => {
        const reason: unknown = signal.reason;
        const err = reason instanceof Error ? reason : new Error('aborted');
        settle(err);
        req.destroy(err);
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      req.once('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size <= MAX_ANSWER_BYTES) chunks.push(c);
          else {
            const err = new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`);
            settle(err);
            req.destroy(err);
          }
        });
        res.on('error', (err) => settle(err));
        res.once('close', () => {
          if (!res.complete) settle(new Error('the connection closed before the answer was complete'));
        });
        res.once('end', () => {
          let json: Record<string, unknown> = {};
          try {
            const v: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
            if (v && typeof v === 'object' && !Array.isArray(v)) json = v as Record<string, unknown>;
          } catch {
            /* not JSON: the status says what happened */
          }
          const retryAfter = res.headers['retry-after'];
          settle(null, {
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            json,
            retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
          });
        });
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
