import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ROLES } from '../../actors/index.js';
import { type ToolPinService, type ToolPinsView, type ToolPinView } from '../../toolpins/index.js';
import { changeContext } from '../plugins/authentication.js';
import { ToolPinResource, ToolPinsResource } from '../resources.js';
import { AcceptToolRequest, SetToolPinModeRequest } from '../requests.js';
import { ERROR_RESPONSES, Name, Strict } from '../schemas.js';

const Params = Strict({ name: Name });
const ToolParams = Strict({
  name: Name,
  tool: Type.String({
    minLength: 1,
    maxLength: 256,
    // No control characters: no tool is pinned under such a name (see `fingerprint`).
    pattern: '^[^\\u0000-\\u001f\\u007f]+$',
    description: 'The tool name exactly as the upstream lists it (percent-encoded in the path).',
  }),
});

/** The API view: the service's read-only lists, copied for the serialiser's types. */
function toolView(tool: ToolPinView) {
  return { ...tool, changes: [...tool.changes] };
}

function view(pins: ToolPinsView) {
  return { ...pins, tools: pins.tools.map(toolView) };
}

/**
 * `/v1/upstreams/{name}/tools`: an MCP upstream's pinned tool definitions against the ones last
 * seen, what a change does there, and accepting a new definition.
 */
export const toolPinRoutes: FastifyPluginAsyncTypebox<{
  readonly toolPins: ToolPinService;
}> = async (app, { toolPins }) => {
  const tags = ['upstreams'];

  app.get(
    '/v1/upstreams/:name/tools',
    {
      config: { roles: ROLES },
      schema: {
        tags,
        summary: "An MCP upstream's tools: pinned and current definitions, with their differences",
        params: Params,
        response: { 200: ToolPinsResource, ...ERROR_RESPONSES },
      },
    },
    async (request) => view(await toolPins.view(request.params.name)),
  );

  app.patch(
    '/v1/upstreams/:name/tools',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: 'Set what a changed or new tool definition does on this upstream',
        params: Params,
        body: SetToolPinModeRequest,
        response: { 200: ToolPinsResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      view(
        await toolPins.configure(
          changeContext(request),
          request.params.name,
          request.body.onChange,
        ),
      ),
  );

  app.post(
    '/v1/upstreams/:name/tools/:tool/accept',
    {
      config: { roles: ['admin', 'security', 'owner'] },
      schema: {
        tags,
        summary: "Accept a tool's current definition, named by its hash",
        params: ToolParams,
        body: AcceptToolRequest,
        response: { 200: ToolPinResource, ...ERROR_RESPONSES },
      },
    },
    async (request) =>
      toolView(
        await toolPins.accept(
          changeContext(request),
          request.params.name,
          request.params.tool,
          request.body.hash,
        ),
      ),
  );
};
