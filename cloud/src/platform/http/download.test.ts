import { describe, expect, it } from 'vitest';
import { attachment } from './download.js';

describe('attachment', () => {
  it('names the file in ASCII for every client and in UTF-8 for those that read it', () => {
    expect(attachment('suspect-PT-RAIL-03.csv')).toBe(
      `attachment; filename="suspect-PT-RAIL-03.csv"; filename*=UTF-8''suspect-PT-RAIL-03.csv`,
    );
    expect(attachment('Prüfmittel "Ø 4".csv')).toBe(
      `attachment; filename="Pr_fmittel __ 4_.csv"; filename*=UTF-8''Pr%C3%BCfmittel%20%22%C3%98%204%22.csv`,
    );
  });

  it('never lets a name end the header value or start another parameter', () => {
    const h = attachment('a"; filename="evil.exe\\');
    expect(h.split('"').length).toBe(3);
    expect(h).toContain(`filename="a_; filename=_evil.exe_"`);
  });
});
