"""A small OpenAI-compatible HTTP server for offline tests and benchmarks.

Speaks POST /v1/completions and /v1/chat/completions on 127.0.0.1 (a ThreadingHTTPServer in a daemon thread), answers
with a deterministic function of the request, and injects faults on demand:
  '429' (with Retry-After), '500', 'slow' (sleeps past the client's timeout, then answers), 'bad_json' (200 with a
  truncated body), 'drop' (closes the connection without a response).
It also speaks the Batch API: POST /v1/files (multipart upload), POST /v1/batches, GET /v1/batches/{id} and
GET /v1/files/{id}/content. A batch answers each line with `respond`, one line every `batch_line_seconds`;
`batch_fail(i)` marks line i failed (it goes to the error file), `batch_status` ends every batch in that status
('completed', or 'expired' with the lines done so far).
`faults(n, attempt)` is called for every request: `n` numbers the distinct request bodies in order of first arrival,
`attempt` counts earlier arrivals of the same body; it returns a fault name or None.
Counters: `attempts[key]` (every arrival), `answered[key]` (complete 200 answers sent), keyed by (prompt, seed).
"""
from __future__ import annotations
import json, re, socket, threading, time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def prompt_of(body: dict) -> str:
    if 'messages' in body: return body['messages'][-1]['content']
    p = body.get('prompt')
    return p[0] if isinstance(p, list) else p

def adder_respond(body: dict) -> tuple[str, str]:
    "A deterministic 'model': stage 1 adds the numbers in the question (phrasing varies with the seed); stage 2 answers."
    prompt = prompt_of(body)
    if prompt.rstrip().endswith("Let's think step by step."):
        q = prompt.split('\nA:')[0]
        nums = [int(x) for x in re.findall(r'\d+', q)]
        lead = ['', ' First,', ' Well,', ' So,'][(body.get('seed') or 0) % 4]
        return f"{lead} we add {' and '.join(map(str, nums))}: {' + '.join(map(str, nums))} = {sum(nums)}.", 'stop'
    m = re.findall(r'= (\d+)\.', prompt)
    return f" {m[-1] if m else 0}.", 'stop'

class StubServer:
    def __init__(self, respond=adder_respond, latency: float = 0.0, max_concurrency: int|None = None,
                 faults=None, api_key: str|None = None, slow_seconds: float = 1.5, retry_after: str = '0',
                 transfer: str = 'length', batch_line_seconds: float = 0.0, batch_fail=None, batch_status: str = 'completed'):
        self.transfer = transfer     # 'length' (Content-Length), 'chunked', or 'close' (body ends at connection close)
        self.respond, self.latency, self.faults, self.api_key = respond, latency, faults, api_key
        self.slow_seconds, self.retry_after = slow_seconds, retry_after
        self.slots = threading.BoundedSemaphore(max_concurrency) if max_concurrency else None
        self.lock = threading.Lock()
        self.attempts, self.answered, self.injected = Counter(), Counter(), Counter()
        self.order: dict = {}
        self.paths = Counter()
        self.arrivals: dict = {}     # key -> list of arrival times
        self.inflight = self.max_inflight = 0
        self.auth_failures = 0
        self.files, self.batches, self.uploads = {}, {}, 0
        self.batch_line_seconds, self.batch_fail, self.batch_status = batch_line_seconds, batch_fail, batch_status

    # ---- lifecycle
    def start(self) -> 'StubServer':
        stub = self
        class Handler(BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'
            disable_nagle_algorithm = True   # headers and body go out in separate writes: no 40 ms delayed-ACK stall
            def log_message(self, *a): pass
            def do_POST(self): stub._handle(self)
            def do_GET(self): stub._handle_get(self)
        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 256
            def handle_error(self, request, client_address): pass   # clients that hang up are expected
        self.httpd = Server(('127.0.0.1', 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={'poll_interval': 0.05}, daemon=True)
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown(); self.httpd.server_close()

    def __enter__(self): return self.start()
    def __exit__(self, *a): self.stop()

    @property
    def url(self) -> str: return f'http://127.0.0.1:{self.httpd.server_address[1]}/v1'

    @property
    def total_answered(self) -> int:
        with self.lock: return sum(self.answered.values())

    # ---- request handling
    def _send(self, h, code: int, payload: bytes, headers: dict|None = None):
        h.send_response(code)
        h.send_header('Content-Type', 'application/json')
        if self.transfer == 'chunked':
            h.send_header('Transfer-Encoding', 'chunked')
            mid = len(payload) // 2
            payload = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in (payload[:mid], payload[mid:]) if c) + b'0\r\n\r\n'
        elif self.transfer == 'close':
            h.send_header('Connection', 'close'); h.close_connection = True
        else: h.send_header('Content-Length', str(len(payload)))
        for k, v in (headers or {}).items(): h.send_header(k, v)
        h.end_headers()
        h.wfile.write(payload); h.wfile.flush()

    # ---- the Batch API
    def _json(self, h, obj, code=200): return self._send(h, code, json.dumps(obj).encode())

    def _upload(self, h, raw: bytes):
        import email.parser, email.policy
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b'Content-Type: ' + h.headers['Content-Type'].encode() + b'\r\n\r\n' + raw)
        parts = {p.get_param('name', header='content-disposition'): p for p in msg.iter_parts()}
        content = parts['file'].get_content()
        content = content.encode() if isinstance(content, str) else content
        with self.lock:
            fid = f'file-{len(self.files)}'; self.files[fid] = content; self.uploads += 1
        return self._json(h, {'id': fid, 'object': 'file', 'bytes': len(content), 'created_at': int(time.time()),
                              'filename': parts['file'].get_filename() or 'upload.jsonl', 'purpose': 'batch', 'status': 'processed'})

    def _create_batch(self, h, body: dict):
        if body.get('input_file_id') not in self.files: return self._json(h, {'error': {'message': 'no such file'}}, 404)
        lines = [json.loads(l) for l in self.files[body['input_file_id']].decode().splitlines() if l.strip()]
        with self.lock:
            bid = f'batch-{len(self.batches)}'
            b = {'id': bid, 'object': 'batch', 'endpoint': body['endpoint'], 'input_file_id': body['input_file_id'],
                 'completion_window': body.get('completion_window', '24h'), 'status': 'in_progress', 'created_at': int(time.time()),
                 'output_file_id': None, 'error_file_id': None, 'request_counts': {'total': len(lines), 'completed': 0, 'failed': 0}}
            self.batches[bid] = b
        threading.Thread(target=self._run_batch, args=(b, lines), daemon=True).start()
        return self._json(h, b)

    def _run_batch(self, b, lines):
        out, err = [], []
        for i, line in enumerate(lines):
            time.sleep(self.batch_line_seconds)
            if self.batch_status == 'expired' and i >= len(lines) // 2: break
            if self.batch_fail and self.batch_fail(i):
                err.append({'id': f'r{i}', 'custom_id': line['custom_id'], 'response': None,
                            'error': {'code': 'server_error', 'message': 'injected failure'}})
                with self.lock: b['request_counts']['failed'] += 1
                continue
            text, finish = self.respond(line['body'])
            choice = ({'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': finish}
                      if 'messages' in line['body'] else {'index': 0, 'text': text, 'finish_reason': finish})
            usage = {'prompt_tokens': len(prompt_of(line['body']).split()), 'completion_tokens': len(text.split())}
            out.append({'id': f'r{i}', 'custom_id': line['custom_id'], 'error': None,
                        'response': {'status_code': 200, 'body': {'choices': [choice], 'usage': usage}}})
            with self.lock: b['request_counts']['completed'] += 1
        with self.lock:
            for name, rows in (('output_file_id', out), ('error_file_id', err)):
                if rows:
                    fid = f'file-{len(self.files)}'
                    self.files[fid] = ''.join(json.dumps(r) + '\n' for r in rows).encode(); b[name] = fid
            b['status'] = self.batch_status

    def _handle_get(self, h):
        m = re.fullmatch(r'/v1/(batches|files)/([\w-]+)(/content)?', h.path)
        with self.lock:
            if m and m.group(1) == 'batches' and m.group(2) in self.batches: return self._json(h, dict(self.batches[m.group(2)]))
            if m and m.group(1) == 'files' and m.group(3) and m.group(2) in self.files:
                return self._send(h, 200, self.files[m.group(2)], {'X-Content': 'jsonl'})
        return self._json(h, {'error': {'message': f'not found: {h.path}'}}, 404)

    def _handle(self, h):
        n = int(h.headers.get('Content-Length') or 0)
        raw = h.rfile.read(n)
        if self.api_key is not None and h.headers.get('Authorization') != f'Bearer {self.api_key}':
            with self.lock: self.auth_failures += 1
            return self._send(h, 401, b'{"error": {"message": "Incorrect API key provided"}}')
        if h.path == '/v1/files': return self._upload(h, raw)
        if h.path == '/v1/batches': return self._create_batch(h, json.loads(raw))
        if h.path not in ('/v1/completions', '/v1/chat/completions'):
            return self._send(h, 404, b'{"error": {"message": "not found"}}')
        try: body = json.loads(raw)
        except ValueError: return self._send(h, 400, b'{"error": {"message": "bad json"}}')
        key = (prompt_of(body), body.get('seed'))
        with self.lock:
            if key not in self.order: self.order[key] = len(self.order)
            idx, attempt = self.order[key], self.attempts[key]
            self.attempts[key] += 1
            self.paths[h.path] += 1
            self.arrivals.setdefault(key, []).append(time.time())
        fault = self.faults(idx, attempt) if self.faults else None
        if fault:
            with self.lock: self.injected[fault] += 1
        if fault == '429':
            return self._send(h, 429, b'{"error": {"message": "Rate limit reached"}}', {'Retry-After': self.retry_after})
        if fault == '500':
            return self._send(h, 500, b'{"error": {"message": "The server had an error"}}')
        if fault == 'drop':
            h.close_connection = True
            try: h.connection.shutdown(socket.SHUT_RDWR)
            except OSError: pass
            return
        if self.slots: self.slots.acquire()
        try:
            with self.lock:
                self.inflight += 1; self.max_inflight = max(self.max_inflight, self.inflight)
            if fault == 'slow': time.sleep(self.slow_seconds)
            if self.latency: time.sleep(self.latency)
            if fault == 'bad_json':
                return self._send(h, 200, b'{"choices": [{"text": "trunc')
            text, finish = self.respond(body)
            choice = ({'index': 0, 'message': {'role': 'assistant', 'content': text}, 'finish_reason': finish}
                      if 'messages' in body else {'index': 0, 'text': text, 'finish_reason': finish, 'logprobs': None})
            usage = {'prompt_tokens': len(prompt_of(body).split()), 'completion_tokens': len(text.split())}
            usage['total_tokens'] = usage['prompt_tokens'] + usage['completion_tokens']
            payload = json.dumps({'id': f'cmpl-{idx}-{attempt}', 'object': 'text_completion', 'created': int(time.time()),
                                  'model': body.get('model'), 'choices': [choice], 'usage': usage}).encode()
            try: self._send(h, 200, payload)
            except OSError: return       # the client hung up (e.g. it timed out): not answered
            if fault != 'slow':
                with self.lock: self.answered[key] += 1
        finally:
            with self.lock: self.inflight -= 1
            if self.slots: self.slots.release()
