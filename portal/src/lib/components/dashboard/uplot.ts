/**
 * uPlot is loaded on the pages that chart (dashboard, SPC), never with the portal's first page:
 * one shared dynamic import of the library and its stylesheet.
 */
import type uPlotType from 'uplot';

let loading: Promise<typeof uPlotType> | undefined;

export function loadUPlot(): Promise<typeof uPlotType> {
  loading ??= Promise.all([import('uplot'), import('uplot/dist/uPlot.min.css')]).then(([m]) => m.default);
  loading.catch(() => (loading = undefined));
  return loading;
}
