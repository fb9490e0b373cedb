/**
 * A batch verifier on a worker thread (see verify-pool.ts): runs `verifyBatch` on the batch it
 * is sent, against the log state and stored hashes it is sent with, and posts the result back.
 * It reads nothing and writes nothing: everything it needs comes in the message.
 */
import { parentPort } from 'node:worker_threads';
import { verifyBatch } from '@rigtrace/protocols';
import { requestBody, toWire, type VerifyRequest, type VerifyResponse } from './verify-pool.js';

const port = parentPort;
if (!port) throw new Error('verify-worker.ts runs on a worker thread');

port.on('message', (req: VerifyRequest) => {
  let res: VerifyResponse;
  try {
    const known = new Map(req.known);
    const body = requestBody(req);
    const v = verifyBatch(body, {
      publicKey: req.publicKey,
      state: req.state,
      knownLeafHash: (seq) => known.get(seq),
      knownRoot: (size) => (req.earlier?.size === size ? req.earlier.root : undefined),
    });
    res = { id: req.id, result: toWire(body, v) };
  } catch (err) {
    res = { id: req.id, error: err instanceof Error ? err.message : String(err) };
  }
  port.postMessage(res);
});
