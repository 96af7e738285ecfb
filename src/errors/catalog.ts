/**
 * @module errors/catalog
 *
 * Every error DAN reports, in one place. An entry's key is its stable id
 * (`DAN_ERR_<AREA>_<WHAT>`, never reused or renumbered); `code` is the numeric
 * family of the original deployment (1000 permission, 2000 resource unavailable,
 * 3000 invalid argument, 3002 too many tasks, 4001 node error), kept so its
 * clients keep working; `http` is the status the gateway answers with; `retryable`
 * tells the dispatcher whether another attempt (on another node) may succeed.
 * docs/errors.md is checked against this table by a test.
 */

export interface ErrorSpec {
  code: number;
  http: number;
  retryable: boolean;
  meaning: string;
  fix: string;
}

export const errorCatalog = {
  // --- request -------------------------------------------------------------
  DAN_ERR_REQUEST_INVALID_JSON: {
    code: 3000, http: 400, retryable: false,
    meaning: 'The request body is not valid JSON.',
    fix: 'Send a JSON object with `Content-Type: application/json`.',
  },
  DAN_ERR_REQUEST_INVALID_FIELD: {
    code: 3000, http: 400, retryable: false,
    meaning: 'A field is missing, of the wrong type, out of range, or not one of the allowed values.',
    fix: 'The message names the field and what is allowed; see docs/http-api.md.',
  },
  DAN_ERR_REQUEST_UNKNOWN_FIELD: {
    code: 3000, http: 400, retryable: false,
    meaning: 'The request has a field this endpoint does not take (often a typo).',
    fix: 'Remove the field or correct its spelling; the message lists the accepted fields.',
  },
  DAN_ERR_REQUEST_INVALID_IMAGE: {
    code: 3000, http: 400, retryable: false,
    meaning: 'An image field is not valid base64, not a PNG/JPEG/WebP image, or too large.',
    fix: 'Send base64 (optionally with a `data:image/...;base64,` prefix) of a PNG, JPEG or WebP within the size limits.',
  },
  DAN_ERR_REQUEST_TOO_LARGE: {
    code: 3000, http: 413, retryable: false,
    meaning: 'The request body is larger than the gateway accepts.',
    fix: 'Send smaller images, or raise `--body-limit-mb` on the gateway.',
  },
  DAN_ERR_REQUEST_UNSUPPORTED_MEDIA: {
    code: 3000, http: 415, retryable: false,
    meaning: 'The request body is not JSON.',
    fix: 'Send `Content-Type: application/json`.',
  },
  DAN_ERR_ROUTE_NOT_FOUND: {
    code: 404, http: 404, retryable: false,
    meaning: 'No endpoint has this method and path.',
    fix: 'See docs/http-api.md for the endpoints.',
  },
  // --- tasks ---------------------------------------------------------------
  DAN_ERR_TASK_NOT_FOUND: {
    code: 3000, http: 404, retryable: false,
    meaning: 'No task has this id: it never existed, or its result outlived the retention time.',
    fix: 'Use the `taskId` an async endpoint returned; fetch results within the retention time.',
  },
  DAN_ERR_TASK_UNSERVABLE: {
    code: 2000, http: 503, retryable: true,
    meaning: 'No connected node can run this request right now (the message says what is missing).',
    fix: 'Use a model/LoRA/sampler a node offers (GET /api/sd/supportedModelInfo), or attach a node that has it.',
  },
  DAN_ERR_TASK_LIMIT: {
    code: 3002, http: 429, retryable: true,
    meaning: 'This API key already has as many unfinished tasks as the gateway allows.',
    fix: 'Wait for some to finish (poll their status), or ask the operator to raise `--max-tasks-per-key`.',
  },
  DAN_ERR_TASK_CANCELLED: {
    code: 4002, http: 409, retryable: false,
    meaning: 'The task was cancelled before it finished.',
    fix: 'Nothing; submit it again if you still want it.',
  },
  DAN_ERR_TASK_NOT_CANCELLABLE: {
    code: 3000, http: 409, retryable: false,
    meaning: 'The task has already finished, so it cannot be cancelled.',
    fix: 'Read its result with /api/sd/task/status.',
  },
  DAN_ERR_TASK_FAILED: {
    code: 4001, http: 502, retryable: false,
    meaning: 'The task ran and failed on the node(s); the message says why.',
    fix: 'Read the reason; a retryable failure was already retried on other nodes.',
  },
  DAN_ERR_TASK_ATTEMPTS_EXHAUSTED: {
    code: 4001, http: 502, retryable: false,
    meaning: 'The task failed on every attempt the gateway allows.',
    fix: 'Read the reasons of each attempt in the message; retry later or with other parameters.',
  },
  DAN_ERR_TASK_TIMEOUT: {
    code: 4001, http: 504, retryable: true,
    meaning: 'A node took longer than the task timeout; the attempt was abandoned.',
    fix: 'Use fewer steps or pixels, or raise `--task-timeout-s` on the gateway.',
  },
  // --- nodes and backends ----------------------------------------------------
  DAN_ERR_NODE_LOST: {
    code: 4001, http: 502, retryable: true,
    meaning: 'The node running the task disconnected before answering.',
    fix: 'Nothing: the task is retried on another node.',
  },
  DAN_ERR_NODE_DRAINING: {
    code: 4001, http: 502, retryable: true,
    meaning: 'The node was stopping and took no new task.',
    fix: 'Nothing: the task is retried on another node.',
  },
  DAN_ERR_NODE_PROTOCOL: {
    code: 4001, http: 502, retryable: true,
    meaning: 'A node sent a frame that breaks the node protocol; it was disconnected.',
    fix: 'Update the node agent to the gateway\'s version.',
  },
  DAN_ERR_NODE_UNAUTHORIZED: {
    code: 1000, http: 401, retryable: false,
    meaning: 'A node presented no token or a wrong one.',
    fix: 'Start the node with `--token` equal to the gateway\'s `--node-token`.',
  },
  DAN_ERR_BACKEND_UNREACHABLE: {
    code: 4001, http: 502, retryable: true,
    meaning: 'The node could not reach its WebUI.',
    fix: 'Start the WebUI with `--api` at the URL given to `dan node --webui`.',
  },
  DAN_ERR_BACKEND_REJECTED: {
    code: 4001, http: 502, retryable: false,
    meaning: 'The WebUI refused the request as invalid (HTTP 4xx).',
    fix: 'Report it: the node translated the request into something its WebUI does not accept.',
  },
  DAN_ERR_BACKEND_FAILED: {
    code: 4001, http: 502, retryable: true,
    meaning: 'The WebUI failed while running the task (HTTP 5xx, out of memory, …).',
    fix: 'Usually transient; the task is retried on another node.',
  },
  DAN_ERR_BACKEND_BAD_RESPONSE: {
    code: 4001, http: 502, retryable: true,
    meaning: 'The WebUI answered with something that is not a valid result.',
    fix: 'Check the WebUI version and extensions on that node.',
  },
  // --- gateway -------------------------------------------------------------
  DAN_ERR_INTERNAL: {
    code: 500, http: 500, retryable: true,
    meaning: 'An unexpected error inside the gateway.',
    fix: 'Report it with the gateway log lines around the time of the request.',
  },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorId = keyof typeof errorCatalog;
