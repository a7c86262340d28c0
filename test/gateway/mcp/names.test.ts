/**
 * Issue 9, item 3 (MCP): the request decided is the request executed. A tool, prompt or resource
 * is served only under the name the upstream itself lists, exactly as listed; case, whitespace,
 * zero-width and NFKC look-alikes, and second spellings of a URI, are refused (`not_listed`),
 * recorded, and never reach the upstream — which here would run them, as careless servers do.
 * Official MCP SDK client → Steward → official SDK server, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from '../../support/databases.js';
import { startCatalogGateway, type CatalogGateway } from './catalog-fixture.js';
import { refusal } from './fixture.js';

/** Spellings of `refund` a careless upstream runs as `refund`. */
const REFUND_LOOKALIKES = [
  'REFUND',
  'Refund',
  ' refund',
  'refund\t',
  'refund\n',
  'refund\u200b',
  '\ufeffrefund',
  're\u00adfund', // a soft hyphen
  'ｒｅｆｕｎｄ', // full-width: NFKC makes it `refund`
  '\u211defund', // DOUBLE-STRUCK CAPITAL R: NFKC makes it `R`
];

for (const database of await testDatabases()) {
  describe(`MCP names are taken as the upstream lists them (${database.name})`, () => {
    let cg: CatalogGateway;
    before(async () => {
      cg = await startCatalogGateway(database);
    });
    after(async () => {
      await cg.close();
    });

    it('runs the listed name, and refuses the sensitive one by its own name', async () => {
      const client = await cg.agent();
      try {
        const ok = await client.callTool({ name: 'lookup', arguments: { id: '1' } });
        assert.deepEqual(ok.content, [{ type: 'text', text: 'ran lookup' }]);
        const refused = await refusal(client.callTool({ name: 'refund', arguments: { id: '1' } }));
        assert.equal(refused.data?.['code'], 'forbidden');
      } finally {
        await client.close();
      }
    });

    it('refuses look-alike tool names under a broad policy: not_listed, recorded, never run', async () => {
      const ran = cg.notes.ran.length;
      // A new identity: its first call finds no listing on the replica (fetched after the
      // decision, on the call's credential); the following ones find it.
      const identity = await cg.gw.addIdentity('lookalikes');
      const client = await cg.agent({ identity });
      try {
        for (const name of REFUND_LOOKALIKES) {
          const refused = await refusal(
            client.callTool({ name, arguments: { id: '42', amount: 500 } }),
          );
          assert.equal(refused.data?.['code'], 'not_listed', JSON.stringify(name));
          assert.equal(refused.code, -32021);
          assert.equal(refused.data?.['status'], 404);
          const recordId = refused.data?.['recordId'];
          assert.equal(typeof recordId, 'string');
          // The decision (on the name as sent: not sensitive, so allowed by the broad policy)
          // and the refusal as its outcome, on the trail.
          const outcome = (await cg.audit('gateway.outcome')).find(
            (event) => event.target.id === recordId,
          );
          assert.equal(outcome?.after['error'], 'not_listed', JSON.stringify(name));
          assert.equal(outcome.after['status'], 404);
          const decision = (await cg.audit('decision.allow')).find(
            (event) => event.target.id === recordId,
          );
          const gateway = decision?.after['gateway'] as Record<string, unknown> | undefined;
          assert.equal(gateway?.['operation'], name);
        }
      } finally {
        await client.close();
      }
      assert.deepEqual(cg.notes.ran.slice(ran), [], 'a look-alike reached the upstream');
    });

    it('refuses a name the upstream does not list at all, and one it lists twice', async () => {
      const client = await cg.agent();
      const ran = cg.notes.ran.length;
      try {
        const unknown = await refusal(client.callTool({ name: 'wire_money', arguments: {} }));
        assert.equal(unknown.data?.['code'], 'not_listed');
        // Two definitions under one name: which would run? Neither.
        cg.notes.tools.push({ name: 'lookup', inputSchema: { type: 'object' } });
        cg.clock.advance(31_000);
        const twice = await refusal(client.callTool({ name: 'lookup', arguments: { id: '1' } }));
        assert.equal(twice.data?.['code'], 'tool_definition_changed');
      } finally {
        cg.notes.tools.pop();
        cg.clock.advance(31_000);
        await client.close();
      }
      assert.deepEqual(cg.notes.ran.slice(ran), []);
    });

    it('refuses look-alike prompt names', async () => {
      const client = await cg.agent();
      const ran = cg.notes.ran.length;
      try {
        for (const name of ['SUMMARISE', ' summarise', 'summarise\u200b', 'ｓｕｍｍａｒｉｓｅ']) {
          const refused = await refusal(client.getPrompt({ name }));
          assert.equal(refused.data?.['code'], 'not_listed', JSON.stringify(name));
        }
        assert.deepEqual(cg.notes.ran.slice(ran), []);
        const prompt = await client.getPrompt({ name: 'summarise' });
        assert.equal(prompt.messages.length, 1);
      } finally {
        await client.close();
      }
    });

    it('reads a listed URI as listed and a templated one in normal form; refuses second spellings', async () => {
      const client = await cg.agent();
      const ran = cg.notes.ran.length;
      try {
        for (const uri of [
          'NOTES://team/plan',
          'notes://TEAM/plan',
          'notes://team/%70lan',
          'notes://team/plan ',
          'notes://team/x/../plan',
          'notes://team//plan',
          // Through the template `notes://items/{id}`: escapes of characters that need none,
          // lower-case escapes, encoded slashes and dots, dot segments, raw non-ASCII.
          'notes://items/%34%32',
          'notes://items/%2e%2e',
          'notes://items/a%2Fb',
          'notes://items/a%2fb',
          'notes://items/%25%32%46',
          'notes://items/42/../../team/secret',
          'notes://items/./42',
          'notes://items/ümlaut',
          'NOTES://items/42',
        ]) {
          const refused = await refusal(client.readResource({ uri }));
          assert.equal(refused.data?.['code'], 'not_listed', uri);
        }
        assert.deepEqual(cg.notes.ran.slice(ran), [], 'a second spelling reached the upstream');
        const listed = await client.readResource({ uri: 'notes://team/plan' });
        assert.equal(listed.contents[0]?.uri, 'notes://team/plan');
        for (const uri of [
          'notes://items/42',
          'notes://items/order-7_b~c',
          'notes://items/caf%C3%A9',
        ]) {
          const read = await client.readResource({ uri });
          assert.equal(read.contents[0]?.uri, uri);
        }
      } finally {
        await client.close();
      }
    });

    it("refuses a call when the upstream's listing is over its response limit", async () => {
      const client = await cg.agent();
      const ran = cg.notes.ran.length;
      try {
        await cg.gw.admin('PATCH', '/v1/upstreams/notes', { maxResponseBytes: 200 });
        cg.clock.advance(31_000);
        const refused = await refusal(client.callTool({ name: 'lookup', arguments: { id: '1' } }));
        assert.equal(refused.data?.['code'], 'response_too_large');
        const outcome = (await cg.audit('gateway.outcome')).find(
          (event) => event.target.id === refused.data?.['recordId'],
        );
        assert.equal(outcome?.after['error'], 'response_too_large');
        assert.deepEqual(cg.notes.ran.slice(ran), []);
      } finally {
        await cg.gw.admin('PATCH', '/v1/upstreams/notes', { maxResponseBytes: 1_048_576 });
        await client.close();
      }
    });
  });
}
