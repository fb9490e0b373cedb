import express from 'express';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { NDJSON, dateTime, mount, openApiPaths, operation } from './contract.js';
import { parseBody, parseParams, parseQuery } from './validation.js';
import { ProblemError } from '../errors.js';

/** A route written today: its contract in zod, nothing of the API document written by hand. */
const widgetApi = {
  update: operation({
    method: 'put',
    path: '/widgets/{widgetId}',
    summary: 'Rename a widget',
    params: z.strictObject({
      widgetId: z
        .string()
        .regex(/^w-\d+$/)
        .describe('the widget'),
    }),
    query: z.strictObject({ dryRun: z.enum(['true', 'false']).default('false') }),
    body: z.strictObject({ name: z.string().min(1).max(20), size: z.int().min(1).optional() }),
    responses: { '200': z.object({ id: z.string(), name: z.string(), at: dateTime }).describe('the widget') },
    errors: [400, 404],
  }),
};

describe('a route with a zod contract', () => {
  it('is documented from its schemas, without any hand-written OpenAPI', () => {
    const doc = openApiPaths(Object.values(widgetApi))['/widgets/{widgetId}']!.put!;
    expect(doc.summary).toBe('Rename a widget');
    expect(doc.parameters).toEqual([
      {
        name: 'widgetId',
        in: 'path',
        required: true,
        schema: { type: 'string', pattern: '^w-\\d+$' },
        description: 'the widget',
      },
      { name: 'dryRun', in: 'query', schema: { type: 'string', enum: ['true', 'false'], default: 'false' } },
    ]);
    expect(doc.requestBody).toEqual({
      required: true,
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              name: { type: 'string', minLength: 1, maxLength: 20 },
              size: { type: 'integer', minimum: 1 },
            },
            required: ['name'],
            additionalProperties: false,
          },
        },
      },
    });
    const responses = doc.responses as Record<
      string,
      { description: string; content: Record<string, unknown> }
    >;
    expect(responses['200']).toEqual({
      description: 'the widget',
      content: {
        'application/json': {
          schema: {
            type: 'object',
            properties: {
              id: { type: 'string' },
              name: { type: 'string' },
              at: { type: 'string', format: 'date-time' },
            },
            required: ['id', 'name', 'at'],
            additionalProperties: false,
          },
        },
      },
    });
    expect(Object.keys(responses['404']!.content)).toEqual(['application/problem+json']);
    expect(doc.security).toEqual([{ apiToken: [] }, { sessionCookie: [] }]);
  });

  it('validates with the schemas it documents', async () => {
    const app = express();
    app.use(express.json());
    const r = express.Router();
    mount(r, widgetApi.update, (req, res) => {
      const { widgetId } = parseParams(widgetApi.update, req);
      const q = parseQuery(widgetApi.update, req);
      const b = parseBody(widgetApi.update, req);
      res.json({ id: widgetId, name: b.name, at: q.dryRun === 'true' ? 'never' : new Date().toISOString() });
    });
    // Under test, an answer off its documented schema is a 500 naming the route.
    mount(r, { ...widgetApi.update, method: 'post' }, (_req, res) => {
      res.json({ id: 1, name: 'gear' });
    });
    mount(
      r,
      { ...widgetApi.update, method: 'patch', responses: { '201': { description: 'the widget' } } },
      (_req, res) => {
        res.status(201).json({ id: 'w-1', name: 'gear', at: new Date().toISOString() });
      },
    );
    // A field the schema does not describe (plain z.object would drop it from the check and the
    // document would not list it) is a 500 as well, at any depth.
    mount(r, { ...widgetApi.update, method: 'delete' }, (_req, res) => {
      res.json({ id: 'w-1', name: 'gear', at: new Date().toISOString(), ownerId: 'u-7' });
    });
    const nested = z.object({
      items: z.array(z.object({ id: z.string() })),
      meta: z.record(z.string(), z.int()),
    });
    mount(
      r,
      {
        ...widgetApi.update,
        method: 'get',
        path: '/widgets',
        params: undefined,
        responses: { '200': nested },
      },
      (req, res) => {
        const extra = req.query.extra === '1' ? { secret: 's' } : {};
        res.json({ items: [{ id: 'w-1' }, { id: 'w-2', ...extra }], meta: { anyKey: 1 } });
      },
    );
    app.use(r);
    app.use(((err, _req, res, _next) => {
      if (!(err instanceof ProblemError)) return res.status(500).json({ message: String(err) });
      res.status(err.status).json(err.toProblem());
    }) as express.ErrorRequestHandler);
    const server = app.listen(0);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const put = (p: string, body: unknown) =>
        fetch(`${base}${p}`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        });
      const ok = await put('/widgets/w-1?dryRun=true', { name: 'gear' });
      expect(ok.status).toBe(200);
      expect(await ok.json()).toEqual({ id: 'w-1', name: 'gear', at: 'never' });
      const off = await fetch(`${base}/widgets/w-1`, { method: 'POST' });
      expect(off.status).toBe(500);
      expect(((await off.json()) as { message: string }).message).toContain('off its schema');
      // JSON where the contract documents no zod schema (here: 201) is a 500 as well.
      const undocumented = await fetch(`${base}/widgets/w-1`, { method: 'PATCH' });
      expect(undocumented.status).toBe(500);
      expect(((await undocumented.json()) as { message: string }).message).toContain('without a zod schema');
      const extra = await fetch(`${base}/widgets/w-1`, { method: 'DELETE' });
      expect(extra.status).toBe(500);
      expect(((await extra.json()) as { message: string }).message).toContain(
        'fields the schema does not describe: ownerId',
      );
      const list = await fetch(`${base}/widgets?dryRun=false`);
      expect(list.status).toBe(200); // a record's keys are all described
      expect(await list.json()).toEqual({ items: [{ id: 'w-1' }, { id: 'w-2' }], meta: { anyKey: 1 } });
      const deep = await fetch(`${base}/widgets?dryRun=false&extra=1`);
      expect(deep.status).toBe(500);
      expect(((await deep.json()) as { message: string }).message).toContain(
        'fields the schema does not describe: items[1].secret',
      );
      // What the document refuses, the route refuses.
      expect((await put('/widgets/w-1', { name: 'gear', colour: 'red' })).status).toBe(400); // additionalProperties
      expect((await put('/widgets/w-1', { size: 2 })).status).toBe(400); // required
      expect((await put('/widgets/w-1', { name: 'x'.repeat(21) })).status).toBe(400); // maxLength
      expect((await put('/widgets/x-1', { name: 'gear' })).status).toBe(400); // path pattern
      expect((await put('/widgets/w-1?dryRun=maybe', { name: 'gear' })).status).toBe(400); // enum
      expect((await put('/widgets/w-1?other=1', { name: 'gear' })).status).toBe(400); // unknown parameter
    } finally {
      server.close();
    }
  });
});

describe('a route that streams JSON lines or CSV', () => {
  const line = z.object({ seq: z.int(), what: z.string() });
  const streamApi = {
    lines: operation({
      method: 'get',
      path: '/lines',
      summary: 'Lines',
      query: z.strictObject({ bad: z.enum(['none', 'first', 'later', 'extra']).default('none') }),
      responses: { '200': { description: 'one { seq, what } per line', ndjson: line } },
    }),
    table: operation({
      method: 'get',
      path: '/table',
      summary: 'A table',
      query: z.strictObject({ header: z.string().default('seq,what') }),
      responses: { '200': { description: 'a table', csv: { columns: ['seq', 'what'] } } },
    }),
  };

  it('is documented with the schema of one line and the CSV columns', () => {
    const paths = openApiPaths(Object.values(streamApi));
    const lines = paths['/lines']!.get!.responses as Record<string, { content: Record<string, unknown> }>;
    expect(lines['200']!.content[NDJSON]).toEqual({
      schema: { type: 'string', description: 'JSON lines: one x-ndjson-item per line' },
      'x-ndjson-item': {
        type: 'object',
        properties: { seq: { type: 'integer' }, what: { type: 'string' } },
        required: ['seq', 'what'],
        additionalProperties: false,
      },
    });
    const table = paths['/table']!.get!.responses as Record<string, { content: Record<string, unknown> }>;
    expect(table['200']!.content['text/csv']).toEqual({
      schema: { type: 'string', description: 'CSV (RFC 4180, CRLF), header line: seq,what' },
      'x-csv-columns': ['seq', 'what'],
    });
  });

  it('under test, checks every line streamed against that schema and the CSV header against the columns', async () => {
    const app = express();
    const r = express.Router();
    mount(r, streamApi.lines, async (req, res) => {
      const { bad } = parseQuery(streamApi.lines, req);
      res.type(NDJSON);
      for (let seq = 1; seq <= 3; seq++) {
        const off = (bad === 'first' && seq === 1) || (bad === 'later' && seq === 3);
        const value = off
          ? { seq: 'x', what: 'w' }
          : { seq, what: 'w', ...(bad === 'extra' ? { secret: 1 } : {}) };
        // Two lines in one write and a line split over writes are read as lines.
        const text = `${JSON.stringify(value)}\n`;
        res.write(text.slice(0, 5));
        res.write(text.slice(5));
        await new Promise((ok) => setImmediate(ok));
      }
      res.end();
    });
    mount(r, streamApi.table, (req, res) => {
      const { header } = parseQuery(streamApi.table, req);
      res.type('text/csv; charset=utf-8').send(`${header}\r\n1,gear\r\n`);
    });
    app.use(r);
    app.use(((err, _req, res, _next) => {
      if (res.headersSent) return;
      res.status(500).json({ message: String(err) });
    }) as express.ErrorRequestHandler);
    const server = app.listen(0);
    try {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      const ok = await fetch(`${base}/lines`);
      expect(ok.status).toBe(200);
      expect(
        (await ok.text())
          .trim()
          .split('\n')
          .map((l) => JSON.parse(l) as unknown),
      ).toEqual([
        { seq: 1, what: 'w' },
        { seq: 2, what: 'w' },
        { seq: 3, what: 'w' },
      ]);
      // Off its schema before the first byte: a 500 naming the route.
      const first = await fetch(`${base}/lines?bad=first`);
      expect(first.status).toBe(500);
      expect(((await first.json()) as { message: string }).message).toContain(
        'GET /lines answered 200 off its schema',
      );
      // A field the schema does not describe, as for JSON answers.
      const extra = await fetch(`${base}/lines?bad=extra`);
      expect(extra.status).toBe(500);
      expect(((await extra.json()) as { message: string }).message).toContain(
        'fields the schema does not describe: secret',
      );
      // Off its schema later: the stream is cut, the bad line never sent.
      const later = await fetch(`${base}/lines?bad=later`);
      expect(later.status).toBe(200);
      await expect(later.text()).rejects.toThrow();

      const table = await fetch(`${base}/table`);
      expect(table.status).toBe(200);
      expect(await table.text()).toBe('seq,what\r\n1,gear\r\n');
      const wrong = await fetch(`${base}/table?header=${encodeURIComponent('seq,what,extra')}`);
      expect(wrong.status).toBe(500);
      expect(((await wrong.json()) as { message: string }).message).toContain(
        'CSV header seq,what,extra is not the documented columns (seq,what)',
      );
    } finally {
      server.close();
    }
  });
});
