/**
 * @module protocol/node-id-header
 *
 * The header a node's requests to its backend carry the id its gateway gave its connection in (the welcome's
 * `nodeId`; a WebUI ignores it). A gateway whose WebUI API is called by a node of its own network (its
 * `--webui` is the gateway under another name or address, or another gateway of the same database) tells
 * from it, and refuses before every task the node is given loops back into the network (api/a1111,
 * `DAN_ERR_NODE_LOOP`). Another network's gateway, used as a WebUI on purpose (networks chain that way),
 * has no node of that id and answers as usual. The id is per connection and listed by `GET /api/nodes`
 * anyway: it tells nobody anything new.
 */
export const NODE_ID_HEADER = 'x-dan-node';
