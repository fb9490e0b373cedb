import { api, ApiError, setCsrfToken } from './api';
import type { LoginAnswer, SessionAnswer, SessionState, User } from './types';

/** The signed-in user and where their sign-in stands, shared by every page. */
class Session {
  /** 'unknown' until the first GET /auth/session answers. */
  state = $state<SessionState | 'signed-out' | 'unknown'>('unknown');
  user = $state<User | null>(null);

  /** Asks the cloud whether the browser's cookie still holds a session. */
  async refresh(): Promise<void> {
    try {
      const s = await api<SessionAnswer>('/auth/session');
      setCsrfToken(s.csrfToken);
      this.user = s.user;
      this.state = s.state;
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) return this.forget();
      throw err;
    }
  }

  async login(tenant: string, email: string, password: string): Promise<SessionState> {
    const a = await api<LoginAnswer>('/auth/login', { method: 'POST', body: { tenant, email, password } });
    setCsrfToken(a.csrfToken);
    if (a.state === 'active') await this.refresh();
    else this.state = a.state;
    return a.state;
  }

  async completeMfa(code: string): Promise<void> {
    const a = await api<{ state: SessionState; csrfToken: string }>('/auth/login/mfa', {
      method: 'POST',
      body: { code },
    });
    setCsrfToken(a.csrfToken);
    await this.refresh();
  }

  async logout(): Promise<void> {
    try {
      await api('/auth/logout', { method: 'POST' });
    } finally {
      this.forget();
    }
  }

  forget() {
    setCsrfToken(null);
    this.user = null;
    this.state = 'signed-out';
  }
}

export const session = new Session();
