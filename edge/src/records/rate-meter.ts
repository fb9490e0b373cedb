/** Events per second over a sliding window of whole seconds (default 10 s). */
export class RateMeter {
  private readonly buckets: number[];
  private head = 0;
  private headSecond: number;

  constructor(
    private readonly windowS = 10,
    private readonly now: () => number = Date.now,
  ) {
    this.buckets = new Array<number>(windowS).fill(0);
    this.headSecond = Math.floor(now() / 1000);
  }

  private advance(): void {
    const s = Math.floor(this.now() / 1000);
    const steps = Math.min(this.windowS, s - this.headSecond);
    for (let i = 0; i < steps; i++) {
      this.head = (this.head + 1) % this.windowS;
      this.buckets[this.head] = 0;
    }
    if (s > this.headSecond) this.headSecond = s;
  }

  mark(n = 1): void {
    this.advance();
    this.buckets[this.head]! += n;
  }

  /** Mean rate over the completed seconds of the window. */
  perSecond(): number {
    this.advance();
    let sum = 0;
    for (let i = 0; i < this.windowS; i++) if (i !== this.head) sum += this.buckets[i]!;
    return sum / (this.windowS - 1);
  }
}
