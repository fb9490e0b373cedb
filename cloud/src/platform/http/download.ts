import type { Response } from 'express';

/** A Content-Disposition that saves as `filename` (RFC 6266: an ASCII fallback and the UTF-8 form). */
export function attachment(filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]/g, '_').replace(/["\\]/g, '_');
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

/** A CSV answer that the browser saves as `filename`. */
export function sendCsv(res: Response, filename: string, text: string): void {
  res.type('text/csv; charset=utf-8').setHeader('content-disposition', attachment(filename)).send(text);
}
