import nodemailer, { type Transporter } from 'nodemailer';
import type { CloudConfig } from '../platform/config.js';
import { emailHtml, emailText, subjectOf, type Digest } from './digest.js';

export type SmtpConfig = Pick<
  CloudConfig,
  'smtpHost' | 'smtpPort' | 'smtpSecurity' | 'smtpUser' | 'smtpPassword' | 'smtpFrom'
>;

export interface EmailResult {
  ok: boolean;
  /** The SMTP reply code (250 on success), when the server answered. */
  status: number | null;
  error: string | null;
}

/** The secrets an error message must never carry (nodemailer's do not, but make sure). */
function scrub(message: string, cfg: SmtpConfig): string {
  let m = message;
  if (cfg.smtpPassword) m = m.split(cfg.smtpPassword).join('[redacted]');
  return m.slice(0, 1000);
}

/**
 * Sends digests by SMTP with nodemailer: STARTTLS required by default, or TLS from the start, or
 * plain (a local relay); AUTH when a user and password are configured. One connection per
 * message (no pool): a digest run sends a handful.
 */
export class EmailSender {
  private readonly transport: Transporter | null;

  constructor(private readonly cfg: SmtpConfig) {
    this.transport = cfg.smtpHost
      ? nodemailer.createTransport({
          host: cfg.smtpHost,
          port: cfg.smtpPort,
          secure: cfg.smtpSecurity === 'tls',
          requireTLS: cfg.smtpSecurity === 'starttls',
          ignoreTLS: cfg.smtpSecurity === 'none',
          ...(cfg.smtpUser && cfg.smtpPassword
            ? { auth: { user: cfg.smtpUser, pass: cfg.smtpPassword } }
            : {}),
          connectionTimeout: 10_000,
          greetingTimeout: 10_000,
          socketTimeout: 20_000,
          logger: false,
          debug: false,
        })
      : null;
  }

  get configured(): boolean {
    return this.transport !== null;
  }

  async send(d: Digest, recipients: readonly string[], deliveryId: string): Promise<EmailResult> {
    if (!this.transport)
      return { ok: false, status: null, error: 'no SMTP server is configured (RIGTRACE_SMTP_HOST)' };
    try {
      const info = (await this.transport.sendMail({
        from: this.cfg.smtpFrom,
        to: [...recipients],
        subject: subjectOf(d),
        text: emailText(d),
        html: emailHtml(d),
        headers: { 'X-RigTrace-Delivery': deliveryId },
      })) as { response?: string; rejected?: unknown[] };
      const status = Number(/^(\d{3})/.exec(info.response ?? '')?.[1] ?? 250);
      if (Array.isArray(info.rejected) && info.rejected.length > 0)
        return { ok: false, status, error: `refused recipients: ${info.rejected.map(String).join(', ')}` };
      return { ok: true, status, error: null };
    } catch (err) {
      const e = err as { message?: string; code?: string; responseCode?: number };
      const text = `${e.code ? `${e.code}: ` : ''}${e.message ?? String(err)}`;
      return { ok: false, status: e.responseCode ?? null, error: scrub(text, this.cfg) };
    }
  }

  close(): void {
    this.transport?.close();
  }
}
