/** A signed-in user for API tests: the session cookie and its CSRF token. */
export interface Session {
  cookie: string;
  csrf: string;
}

/** Signs in (one step: no MFA) and returns the session; throws unless the session is complete. */
export async function signIn(url: string, tenant: string, email: string, password: string): Promise<Session> {
  const res = await fetch(`${url}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ tenant, email, password }),
  });
  const body = (await res.json()) as { csrfToken: string; state: string };
  if (body.state !== 'active') throw new Error(`sign-in of ${email}: ${JSON.stringify(body)}`);
  return { cookie: res.headers.getSetCookie()[0]!.split(';')[0]!, csrf: body.csrfToken };
}

/** A JSON API call as an API token (string) or a signed-in session (cookie + CSRF header). */
export async function apiCall(
  url: string,
  auth: string | Session,
  method: string,
  p: string,
  body?: unknown,
): Promise<{ status: number; type: string; headers: Headers; text: string; body: any }> {
  const res = await fetch(`${url}/api/v1${p}`, {
    method,
    headers: {
      ...(typeof auth === 'string'
        ? { authorization: `Bearer ${auth}` }
        : { cookie: auth.cookie, 'x-csrf-token': auth.csrf }),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  const type = res.headers.get('content-type') ?? '';
  return {
    status: res.status,
    type,
    headers: res.headers,
    text,
    body: type.includes('json') && text ? JSON.parse(text) : undefined,
  };
}
