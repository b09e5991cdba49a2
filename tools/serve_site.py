#!/usr/bin/env python
"""Serve the offline docs site (built by tools/build_site.py) on 127.0.0.1.

    python tools/serve_site.py              # http://127.0.0.1:8000/
    python tools/serve_site.py --port 0     # any free port (printed)
    python tools/serve_site.py --build      # (re)build first if the site is missing or stale
"""
import argparse, functools, http.server, sys, threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.json': 'application/json',
                      '.woff': 'font/woff', '.woff2': 'font/woff2', '.svg': 'image/svg+xml', '.png': 'image/png'}
    quiet = False

    def end_headers(self):
        self.send_header('Cache-Control', 'no-store')
        super().end_headers()

    def log_message(self, fmt, *args):
        if not self.quiet: super().log_message(fmt, *args)


def serve(directory, port=0, host='127.0.0.1', quiet=True):
    "Start a threaded server for `directory` in a daemon thread; returns (server, base_url). Stop with server.shutdown()"
    handler = type('QuietHandler' if quiet else 'LogHandler', (Handler,), {'quiet': quiet})
    httpd = http.server.ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(directory)))
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f'http://{host}:{httpd.server_address[1]}/'


def main(argv=None):
    ap = argparse.ArgumentParser(description='Serve the docs site built by tools/build_site.py on 127.0.0.1')
    ap.add_argument('--port', type=int, default=8000, help='port (0: any free port; default 8000)')
    ap.add_argument('--dir', default=str(ROOT/'_site'), help='site folder (default: _site)')
    ap.add_argument('--build', action='store_true', help='build the site first if it is missing or stale')
    a = ap.parse_args(argv)
    d = Path(a.dir)
    if a.build:
        sys.path.insert(0, str(ROOT/'tools'))
        import build_site
        if build_site.is_stale(ROOT, d): build_site.build(ROOT, d)
    if not (d/'index.html').exists(): sys.exit(f'serve_site: {d}/index.html not found; run `python tools/build_site.py` first')
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', a.port), functools.partial(Handler, directory=str(d)))
    print(f'Serving {d} at http://127.0.0.1:{httpd.server_address[1]}/ (Ctrl-C to stop)', flush=True)
    try: httpd.serve_forever()
    except KeyboardInterrupt: pass
    finally: httpd.server_close()


if __name__ == '__main__': main()
