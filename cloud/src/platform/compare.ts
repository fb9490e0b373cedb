/** Orders two texts by code unit (not by locale): ISO times, dates and ids sort as they should. */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
