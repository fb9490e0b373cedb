/**
 * The one way the portal talks to the cloud: same-origin fetch with the session cookie,
 * the CSRF token on every state-changing call, and RFC 7807 problem+json answers turned into
 * one typed error (ApiError) that handleError knows how to show.
 */

export const API_BASE = '/api/v1';

/** An answer other than 2xx, from the API's problem+json (or a made-up one for network failures). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** Stable code, e.g. CLOUD_LOGIN_FAILED; CLIENT_NETWORK when the cloud could not be reached. */
    readonly code: string,
    message: string,
    readonly problem: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

let csrfToken: string | null = null;

/** Remember the CSRF token the cloud returned (sign-in, MFA step, GET /auth/session). */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

function csrfFromCookie(): string | null {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === '__Host-rt_csrf' || name === 'rt_csrf') return decodeURIComponent(rest.join('='));
  }
  return null;
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  signal?: AbortSignal;
}

/** Calls `path` under /api/v1 and returns its JSON (undefined for 204). Throws ApiError. */
export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? 'GET';
  const headers: Record<string, string> = { accept: 'application/json, application/problem+json' };
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  if (!SAFE.has(method)) {
    const token = csrfFromCookie() ?? csrfToken;
    if (token) headers['x-csrf-token'] = token;
  }
  let res: Response;
  try {
    res = await fetch(`${API_BASE}${path}`, {
      method,
      headers,
      credentials: 'include',
      ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(
      0,
      'CLIENT_NETWORK',
      'The RigTrace cloud could not be reached. Check your connection.',
    );
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get('content-type') ?? '';
  const data: unknown = type.includes('json') ? await res.json().catch(() => null) : await res.text();
  if (!res.ok) {
    const p = data && typeof data === 'object' ? (data as Record<string, unknown>) : {};
    const code = typeof p.code === 'string' ? p.code : `HTTP_${res.status}`;
    const detail =
      typeof p.detail === 'string' ? p.detail : typeof p.title === 'string' ? p.title : res.statusText;
    throw new ApiError(res.status, code, detail, p);
  }
  return data as T;
}

/** Path segment for an asset tag (tags may contain `/` and `:`). */
export const tagPath = (tag: string) => encodeURIComponent(tag);
