import { toleranceVerdict } from '@rigtrace/protocols/verdict';
import type { CalibrationBody } from '@rigtrace/protocols';

/** One point's recorded result that its own numbers contradict, by the one verdict rule. */
export interface VerdictMismatch {
  path: string;
  recorded: 'pass' | 'fail';
  computed: 'pass' | 'fail';
  message: string;
}

/**
 * Checks each point's as-found and as-left result against its reading and tolerance with the
 * verdict rule the edge and the portal use (@rigtrace/protocols/verdict). Every disagreement is
 * returned; the caller decides: a hand-entered calibration is refused (its results are computed
 * by the form, so a mismatch is a faulty or forged request), a device's record is stored and
 * flagged when it claims a pass its numbers contradict (a recorded fail inside the tolerance may
 * be a guard band under the record's decision rule, and is kept as it is).
 */
export function verdictMismatches(body: CalibrationBody): VerdictMismatch[] {
  const out: VerdictMismatch[] = [];
  body.points.forEach((p, i) => {
    const t = { nominal: p.nominal, lowerTolerance: p.lowerTolerance, upperTolerance: p.upperTolerance };
    const check = (
      which: 'asFound' | 'asLeft',
      reading: number | undefined,
      recorded: 'pass' | 'fail' | undefined,
    ) => {
      if (reading === undefined || recorded === undefined) return;
      const computed = toleranceVerdict(reading, t);
      if (computed === recorded) return;
      out.push({
        path: `body.points[${i}].${which}Result`,
        recorded,
        computed,
        message: `must be "${computed}": ${p.name} ${which === 'asFound' ? 'as found' : 'as left'} ${reading} against ${p.nominal} (${p.lowerTolerance} / +${p.upperTolerance}) is a ${computed}`,
      });
    };
    check('asFound', p.asFound, p.asFoundResult);
    check('asLeft', p.asLeft, p.asLeftResult);
  });
  return out;
}
