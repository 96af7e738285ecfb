/**
 * @module errors/catalog
 *
 * Every error DAN reports, in one place, transport-neutral. An entry's key is
 * its stable id (`DAN_ERR_<AREA>_<WHAT>`, never reused or renumbered);
 * `retryable` tells the dispatcher whether another attempt (on another node)
 * may succeed: the gateway decides it from the id, whatever a node claims.
 * How an id is answered over HTTP (status, the original deployment's numeric
 * code) is the HTTP edge's business: api/error-answers.ts. docs/errors.md is
 * checked against both tables by a test.
 */

export interface ErrorSpec {
  retryable: boolean;
  meaning: string;
  fix: string;
}

export const errorCatalog = {
  // --- request -------------------------------------------------------------
  DAN_ERR_REQUEST_INVALID_JSON: {
    retryable: false,
    meaning: 'The request body is not valid JSON.',
    fix: 'Send a JSON object with `Content-Type: application/json`.',
  },
  DAN_ERR_REQUEST_INVALID_FIELD: {
    retryable: false,
    meaning: 'A field is missing, of the wrong type, out of range, or not one of the allowed values.',
    fix: 'The message names the field and what is allowed; see docs/http-api.md.',
  },
  DAN_ERR_REQUEST_UNKNOWN_FIELD: {
    retryable: false,
    meaning: 'The request has a field this endpoint does not take (often a typo).',
    fix: 'Remove the field or correct its spelling; the message lists the accepted fields.',
  },
  DAN_ERR_REQUEST_INVALID_IMAGE: {
    retryable: false,
    meaning: 'An image field is not valid base64, not a PNG/JPEG/WebP image, too large, or does not decode in full (cut short or corrupt; the message says which).',
    fix: 'Send base64 (optionally with a `data:image/...;base64,` prefix) of a complete, undamaged PNG, JPEG or WebP within the size limits.',
  },
  DAN_ERR_REQUEST_TIMEOUT: {
    retryable: false,
    meaning: 'The request was not received in full in time (its body came too slowly, or stopped): its connection is closed.',
    fix: 'Send the whole request at once; a very slow link may need smaller images.',
  },
  DAN_ERR_REQUEST_TOO_LARGE: {
    retryable: false,
    meaning: 'The request body is larger than the gateway accepts.',
    fix: 'Send smaller images, or raise `--body-limit-mb` on the gateway.',
  },
  DAN_ERR_REQUEST_UNSUPPORTED_MEDIA: {
    retryable: false,
    meaning: 'The request body is not JSON.',
    fix: 'Send `Content-Type: application/json`.',
  },
  DAN_ERR_ROUTE_NOT_FOUND: {
    retryable: false,
    meaning: 'No endpoint has this method and path.',
    fix: 'See docs/http-api.md for the endpoints.',
  },
  DAN_ERR_METHOD_NOT_ALLOWED: {
    retryable: false,
    meaning: 'The endpoint exists, but not for this HTTP method (a GET on an endpoint that takes POST, for one).',
    fix: 'Use the method the message and the `Allow` header name; see docs/http-api.md.',
  },
  DAN_ERR_CORS_ORIGIN: {
    retryable: false,
    meaning: 'A web page of an origin the gateway does not allow (`--cors-origin`) asked, in a CORS preflight, to call the API; the browser then sends nothing.',
    fix: 'Call the API from a page of an allowed origin, or, operators, add this origin to `--cors-origin` (or give `*`).',
  },
  // --- tasks ---------------------------------------------------------------
  DAN_ERR_MODEL_NOT_FOUND: {
    retryable: false,
    meaning: 'No node serves a checkpoint of this name now, and no alias names one (`GET /v1/models/{model}`).',
    fix: 'List what is served with `GET /v1/models` (or `GET /api/sd/supportedModelInfo`).',
  },
  DAN_ERR_TASK_NOT_FOUND: {
    retryable: false,
    meaning: 'No task has this id: it never existed, or its result outlived the retention time.',
    fix: 'Use the `taskId` an async endpoint returned; fetch results within the retention time.',
  },
  DAN_ERR_TASK_UNSERVABLE: {
    retryable: true,
    meaning: 'No connected node can run this request right now (the message says what is missing).',
    fix: 'Use a model/LoRA/sampler a node offers (GET /api/sd/supportedModelInfo), or attach a node that has it.',
  },
  DAN_ERR_TASK_LIMIT: {
    retryable: true,
    meaning: 'This API key (or, without a key, this address) already has as many unfinished tasks as it may.',
    fix: 'Wait for some to finish (poll their status; `Retry-After` says when to try again), or ask the operator for a key with a larger budget (`dan keys set <id> --max-tasks <n>`).',
  },
  DAN_ERR_TASK_CANCELLED: {
    retryable: false,
    meaning: 'The task was cancelled before it finished.',
    fix: 'Nothing; submit it again if you still want it.',
  },
  DAN_ERR_TASK_NOT_CANCELLABLE: {
    retryable: false,
    meaning: 'The task has already finished, so it cannot be cancelled.',
    fix: 'Read its result with /api/sd/task/status.',
  },
  DAN_ERR_TASK_FAILED: {
    retryable: false,
    meaning: 'The task failed the same way on two nodes, so the request itself is the likely cause (the message says how it failed).',
    fix: 'Read the reason and change the request (often an input image or a LoRA the backend cannot use).',
  },
  DAN_ERR_TASK_ATTEMPTS_EXHAUSTED: {
    retryable: false,
    meaning: 'The task failed on every attempt the gateway allows.',
    fix: 'Read the reasons of each attempt in the message; retry later or with other parameters.',
  },
  DAN_ERR_TASK_TIMEOUT: {
    retryable: true,
    meaning: 'A node took longer than the task timeout; the attempt was abandoned.',
    fix: 'Use fewer steps or pixels, or raise `--task-timeout-s` on the gateway.',
  },
  DAN_ERR_WAIT_TIMEOUT: {
    retryable: false,
    meaning: 'A request that waits for its tasks (the OpenAI-compatible and WebUI-compatible endpoints) ran out of its sync wait before they finished; the tasks go on.',
    fix: 'Follow them by the task ids in the message (GET /api/sd/task/{taskId}), or raise `--sync-timeout-s` on the gateway.',
  },
  DAN_ERR_IDEMPOTENCY_MISMATCH: {
    retryable: false,
    meaning: 'The Idempotency-Key was used before (within 24 hours) for a request with another body or endpoint.',
    fix: 'Send a new Idempotency-Key for a new request; send the same key only to retry the same request.',
  },
  // --- API keys ------------------------------------------------------------
  DAN_ERR_AUTH_KEY_REQUIRED: {
    retryable: false,
    meaning: "This gateway takes requests only with an API key of the caller's own (the public key and keyless requests are refused).",
    fix: 'Send `Authorization: Bearer <key>` with a key the operator made for you (`dan keys create`).',
  },
  DAN_ERR_AUTH_KEY_INVALID: {
    retryable: false,
    meaning: 'The API key sent is not one this gateway knows, or it was revoked.',
    fix: 'Check the key (it starts with `sk-`); ask the operator for a new one if it was revoked. Send no key to call anonymously, where the gateway allows it.',
  },
  DAN_ERR_AUTH_ADMIN_TOKEN: {
    retryable: false,
    meaning: "The admin API needs the gateway's admin token, and it was missing or wrong.",
    fix: "Send `Authorization: Bearer <admin token>`, the value of the gateway's `--admin-token`.",
  },
  DAN_ERR_AUTH_ADMIN_OFF: {
    retryable: false,
    meaning: 'The admin API is off on this gateway: no admin token is configured.',
    fix: "Start the gateway with `--admin-token` (or `DAN_ADMIN_TOKEN`), or manage keys with `dan keys` on the gateway's machine.",
  },
  DAN_ERR_RATE_LIMITED: {
    retryable: true,
    meaning: 'Too many requests from this API key (or, without a key, from this address) in the last minute, too many of its task streams (`/api/sd/task/<id>/events`) open at once, or too many request bodies on their way from its address at once.',
    fix: 'Wait the seconds the `Retry-After` header says; the `RateLimit-*` headers of every answer tell how many requests are left. Close a task stream (or poll) before opening another. A key of your own has a higher limit.',
  },
  DAN_ERR_KEY_NOT_ALLOWED: {
    retryable: false,
    meaning: 'The request asks for more than this API key may have: a larger image, more steps, or a checkpoint outside its list (the message says which and the bound).',
    fix: "Ask for less, or ask the operator to change the key's limits (`dan keys set`).",
  },
  DAN_ERR_KEY_NOT_FOUND: {
    retryable: false,
    meaning: 'No API key has this id.',
    fix: 'List the keys with `dan keys list` or GET /api/admin/keys.',
  },
  // --- nodes and backends ----------------------------------------------------
  DAN_ERR_NODE_LOST: {
    retryable: true,
    meaning: 'The node running the task disconnected before answering, and did not come back with it within the resume grace (`--resume-grace-s`, 20 s).',
    fix: 'Nothing: the task is retried on another node.',
  },
  DAN_ERR_NODE_DRAINING: {
    retryable: true,
    meaning: 'The node was stopping and took no new task.',
    fix: 'Nothing: the task is retried on another node.',
  },
  DAN_ERR_NODE_PROTOCOL: {
    retryable: true,
    meaning: 'A node sent a frame that breaks the node protocol; it was disconnected.',
    fix: 'Update the node agent to the gateway\'s version.',
  },
  DAN_ERR_NODE_UNAUTHORIZED: {
    retryable: false,
    meaning: 'A node presented no token or a wrong one.',
    fix: 'Start the node with `--token` equal to the gateway\'s `--node-token`.',
  },
  DAN_ERR_NODE_ORIGIN: {
    retryable: false,
    meaning: 'A connection to the node endpoint came from a web page (it carried an Origin header): a page open in a browser on the gateway\'s machine could otherwise join as a node, read prompts and images, and return any image.',
    fix: 'Attach GPUs with `dan node`: node agents send no Origin header. Web pages cannot join as nodes.',
  },
  DAN_ERR_NODE_CONNECTIONS: {
    retryable: true,
    meaning: 'Too many node connections are open that have not said hello yet.',
    fix: 'Nothing for a real node: its agent connects again by itself. Operators: many silent connections are someone probing the gateway.',
  },
  DAN_ERR_NODE_LOOP: {
    retryable: false,
    meaning: 'A node of this network called a gateway\'s WebUI API as its own WebUI (its `--webui` is a gateway\'s address, under whatever name or IP): every task it was given would come back to the network as a new task.',
    fix: 'Start `dan node` with the address of the WebUI on its own machine (`--webui`, by default http://127.0.0.1:7860), not the gateway\'s.',
  },
  DAN_ERR_BACKEND_UNREACHABLE: {
    retryable: true,
    meaning: 'The node could not reach its backend (WebUI or ComfyUI).',
    fix: 'Start the WebUI with `--api` at the URL given to `dan node --webui` (ComfyUI: at `--comfyui`).',
  },
  DAN_ERR_BACKEND_REJECTED: {
    retryable: false,
    meaning: 'The backend refused the request as invalid (HTTP 4xx from a WebUI but 408, 409 and 429, which are `DAN_ERR_BACKEND_FAILED`; `node_errors` from ComfyUI).',
    fix: 'Report it: the node translated the request into something its backend does not accept (or a model left the backend since the node last looked).',
  },
  DAN_ERR_BACKEND_FAILED: {
    retryable: true,
    meaning: 'The backend failed while running the task (HTTP 5xx, an `execution_error` from ComfyUI, out of memory, …).',
    fix: 'Usually transient; the task is retried on another node.',
  },
  DAN_ERR_BACKEND_BAD_RESPONSE: {
    retryable: true,
    meaning: 'The backend answered with something that is not a valid result.',
    fix: 'Check the version and extensions of the backend on that node.',
  },
  DAN_ERR_NODE_INTERNAL: {
    retryable: false,
    meaning: 'An unexpected error inside the node agent while it prepared or ran the task (a bug); not retried, since it would fail the same way.',
    fix: 'Report it with the node log lines around the time of the task.',
  },
  // --- gateway -------------------------------------------------------------
  DAN_ERR_GATEWAY_STOPPING: {
    retryable: true,
    meaning: 'The gateway stopped (a restart, most likely) before the request\'s tasks were done; the tasks are kept and go on.',
    fix: 'Send the request again with the same Idempotency-Key once the gateway is back: it answers with the same tasks. Or poll the task ids of X-Task-Id.',
  },
  DAN_ERR_STORE_UNAVAILABLE: {
    retryable: true,
    meaning: 'The gateway could not read or write its task store (disk full, files not writable, database unreachable). Accepted tasks are kept and their writes retried.',
    fix: 'Retry shortly. Operators: the gateway log names the cause; check free space and permissions of the `--data` directory.',
  },
  DAN_ERR_INTERNAL: {
    retryable: false,
    meaning: 'An unexpected error inside the gateway.',
    fix: 'Report it with the gateway log lines around the time of the request.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorId = keyof typeof errorCatalog;
