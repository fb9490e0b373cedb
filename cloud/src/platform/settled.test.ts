import { describe, expect, it } from 'vitest';
import { settled } from './settled.js';

describe('settled', () => {
  it('answers every value in the order given', async () => {
    const [a, b, c] = await settled([
      Promise.resolve(1),
      'two',
      new Promise((r) => setTimeout(() => r(3), 5)),
    ]);
    expect([a, b, c]).toEqual([1, 'two', 3]);
  });

  it('throws the first failure in the order given, only once every promise has finished', async () => {
    let slowDone = false;
    const slow = new Promise<void>((r) =>
      setTimeout(() => {
        slowDone = true;
        r();
      }, 20),
    );
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error('second')), 10));
    await expect(settled([Promise.reject(new Error('first')), slow, late])).rejects.toThrow('first');
    expect(slowDone).toBe(true);
  });
});
