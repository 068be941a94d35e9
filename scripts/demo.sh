#!/usr/bin/env bash
# Build mod_profiler and start a local apache2 with it on 127.0.0.1, with a
# few URLs that show what it measures, and a dashboard.
#
#   bash scripts/demo.sh          build, then start (or restart) the demo
#   bash scripts/demo.sh stop     stop it
#
# PORT=8080 by default. Everything lives in $DEMO_DIR
# (default /tmp/mod_profiler-demo); nothing is installed into the system's
# apache2 configuration. As root it installs the Debian packages it needs
# (scripts/deps.sh demo) and the server's children run as www-data; as
# another user it says which packages are missing.
#
# What the demo server has (test/integration/test_demo.py checks each):
#   /                 a static page that shows its own Server-Timing
#   /example          examples/mod_profiler_example.c, built with apxs: spans
#   /slow             a CGI that takes 300 ms (the handler phase)
#   /deep/d1/.../f.html  a file 40 directories deep (the storage phase)
#   /api/orders       mod_proxy to a slow backend (a CGI on this same server,
#                     under /backend/) that sends its own Server-Timing,
#                     merged into ours with the prefix "be-"
#   /missing          a 404
#   /profiler/        the dashboard and the JSON API (local clients only)
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
port=${PORT:-8080}
dir=${DEMO_DIR:-/tmp/mod_profiler-demo}
httpd=$(command -v apache2 || echo /usr/sbin/apache2)
apxs=$(command -v apxs || echo /usr/bin/apxs)
base="http://127.0.0.1:$port"

stop() {
  local pid
  pid=$(cat "$dir/run/httpd.pid" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    "$httpd" -f "$dir/httpd.conf" -k stop
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "mod_profiler demo: apache2 (pid $pid) did not stop within 10 s" >&2
      return 1
    fi
    echo "demo stopped"
  fi
}

if [ "${1:-start}" = "stop" ]; then stop; exit 0; fi
if [ "${1:-start}" != "start" ]; then
  echo "usage: bash scripts/demo.sh [start|stop]" >&2; exit 2
fi

bash scripts/deps.sh demo
make -s -f Makefile.apxs >/dev/null

stop
if [ -e "$dir" ] && [ ! -w "$dir" ]; then
  echo "mod_profiler demo: $dir is not writable by $(id -un);" \
       "pick another directory with DEMO_DIR=..." >&2
  exit 1
fi
mkdir -p "$dir/htdocs" "$dir/cgi-bin/backend" "$dir/logs" "$dir/run" \
         "$dir/db" "$dir/example"
user_lines=""
if [ "$(id -u)" -eq 0 ]; then
  user_lines=$'User www-data\nGroup www-data'
  # The children write the store's file (and SQLite its -wal and -shm
  # files next to it): the directory is theirs.
  chown www-data:www-data "$dir/db"
fi

# The example span module, built as its own comment says, outside the
# checkout (apxs writes its objects next to the source).
if ! cmp -s examples/mod_profiler_example.c "$dir/example/mod_profiler_example.c" \
   || [ ! -f "$dir/example/.libs/mod_profiler_example.so" ]; then
  cp examples/mod_profiler_example.c "$dir/example/"
  if ! (cd "$dir/example" && "$apxs" -c -I"$top/include" \
          mod_profiler_example.c) >"$dir/example/build.log" 2>&1; then
    cat "$dir/example/build.log" >&2
    echo "mod_profiler demo: building examples/mod_profiler_example.c failed" >&2
    exit 1
  fi
fi

deep_path="deep/$(printf 'd%d/' $(seq 1 40))f.html"
cat >"$dir/htdocs/index.html" <<HTML
<!doctype html>
<html><head><meta charset="utf-8"><title>mod_profiler demo</title></head>
<body>
<h1>mod_profiler demo</h1>
<p>Open your browser's DevTools, Network tab, select a request and look
at <b>Timing</b>: the <i>Server Timing</i> section lists every phase httpd
went through for it. This page's own:</p>
<pre id="st"></pre>
<ul>
<li><a href="/example">/example</a>: a module's own spans (render, backend)</li>
<li><a href="/slow">/slow</a>: a CGI that takes 300 ms (handler)</li>
<li><a href="/$deep_path">/deep/…/f.html</a>: 40 directories deep (storage)</li>
<li><a href="/api/orders">/api/orders</a>: a proxied backend whose own
Server-Timing (be-db, be-cache) is merged into ours</li>
<li><a href="/missing">/missing</a>: a 404</li>
<li><a href="/profiler/">/profiler/</a>: the dashboard of every request</li>
</ul>
<script>
const nav = performance.getEntriesByType('navigation')[0];
document.getElementById('st').textContent = nav.serverTiming
  .map(e => e.name.padEnd(10) + e.duration.toFixed(3) + ' ms').join('\n');
</script>
</body></html>
HTML
# A deep directory tree makes the storage phase (directory walk) visible.
mkdir -p "$dir/htdocs/$(dirname "$deep_path")"
echo "deep file" >"$dir/htdocs/$deep_path"

# A slow handler.
cat >"$dir/cgi-bin/slow" <<'CGI'
#!/bin/sh
sleep 0.3
printf 'Content-Type: text/plain\n\nthat took a while\n'
CGI
# The backend behind /api/: slow, and it times its own work, as an
# application server would.
cat >"$dir/cgi-bin/backend/orders" <<'CGI'
#!/bin/sh
sleep 0.1
printf 'Content-Type: application/json\n'
printf 'Server-Timing: db;dur=82.5;desc="orders query", cache;desc=miss\n\n'
printf '{"orders": [1, 2, 3]}\n'
CGI
chmod 755 "$dir/cgi-bin/slow" "$dir/cgi-bin/backend/orders"
chmod -R a+rX "$dir/htdocs" "$dir/cgi-bin" "$dir/example"
chmod 755 "$dir"
if [ "$(id -u)" -eq 0 ] \
   && ! runuser -u www-data -- test -r "$dir/htdocs/index.html"; then
  echo "mod_profiler demo: the server's children (www-data) cannot read" \
       "$dir: a directory above it is not searchable for them; pick" \
       "another with DEMO_DIR=... (e.g. under /tmp)" >&2
  exit 1
fi

mods=/usr/lib/apache2/modules
cat >"$dir/httpd.conf" <<CONF
ServerRoot $dir
DefaultRuntimeDir $dir/run
PidFile $dir/run/httpd.pid
Listen 127.0.0.1:$port
ServerName 127.0.0.1:$port
$user_lines
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule authz_host_module $mods/mod_authz_host.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule alias_module $mods/mod_alias.so
LoadModule cgid_module $mods/mod_cgid.so
LoadModule proxy_module $mods/mod_proxy.so
LoadModule proxy_http_module $mods/mod_proxy_http.so
LoadModule http2_module $mods/mod_http2.so
LoadModule dbd_module $mods/mod_dbd.so
LoadModule profiler_module $top/.libs/mod_profiler.so
LoadModule profiler_example_module $dir/example/.libs/mod_profiler_example.so
TypesConfig /etc/mime.types
Protocols h2c http/1.1
ErrorLog $dir/logs/error.log
LogLevel warn
LogFormat "%h \"%r\" %>s %D \"%{Server-Timing}o\"" profiled
CustomLog $dir/logs/access.log profiled
DocumentRoot $dir/htdocs
DirectoryIndex index.html
<Directory $dir/htdocs>
    Require all granted
</Directory>

Profiler On
# Only local clients see the timings.
ProfilerServerTiming "expr=-R '127.0.0.0/8'"
# Entries that come from the backend's own Server-Timing get a prefix.
ProfilerUpstreamPrefix be-

# Every request is stored in an embedded SQLite file. A connection per
# batch (DBDPersist Off) lets the writer recover by itself if the file was
# unwritable for a while.
DBDriver sqlite3
DBDParams $dir/db/profiler.db
DBDPersist Off
ProfilerStore On

# The span module of examples/.
<Location /example>
    SetHandler profiler-example
</Location>

# A slow CGI, and the backend's CGI.
ScriptAlias /slow $dir/cgi-bin/slow
ScriptAlias /backend/ $dir/cgi-bin/backend/
<Directory $dir/cgi-bin>
    Require all granted
</Directory>

# The backend is this same server, under /backend/; it is not profiled
# itself, so what reaches the browser is its own Server-Timing, merged.
ProxyPass /api/ $base/backend/
ProxyPassReverse /api/ $base/backend/
<Location /backend/>
    Profiler Off
    ProfilerServerTiming Off
    Require ip 127.0.0.1
</Location>

# The dashboard and the JSON API, for local clients only.
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1 ::1
</Location>
CONF

"$httpd" -f "$dir/httpd.conf" -k start
up=0
for _ in $(seq 100); do
  if curl -s -o /dev/null "$base/"; then up=1; break; fi
  sleep 0.1
done
if [ "$up" -ne 1 ]; then
  echo "mod_profiler demo: apache2 does not answer on $base/; see $dir/logs/error.log" >&2
  tail -5 "$dir/logs/error.log" >&2 || true
  exit 1
fi

# A little traffic, so that the dashboard has something to show at once.
for _ in 1 2 3; do
  for p in / /example /slow "/$deep_path" /api/orders /missing; do
    curl -s -o /dev/null "$base$p" || true
  done
done

stop_cmd="bash scripts/demo.sh stop"
if [ -n "${DEMO_DIR:-}" ]; then stop_cmd="DEMO_DIR=$dir $stop_cmd"; fi
cat <<EOF

mod_profiler demo: $base/  (sent a few requests to each URL below)
  curl -sI $base/ | grep -i server-timing
  curl -sI $base/example | grep -i server-timing      a module's spans
  curl -sI $base/slow | grep -i server-timing         300 ms in the handler
  curl -sI $base/$deep_path | grep -i server-timing
                                                     40 directories: storage
  curl -sI $base/api/orders | grep -i server-timing   the backend's be-db, merged
  curl -sI $base/missing | grep -i server-timing      a 404
  dashboard: $base/profiler/   API: curl -s $base/profiler/api/v1/summary
  sqlite3 $dir/db/profiler.db 'SELECT route, status, count(*), avg(total_us) FROM profiler_requests GROUP BY 1, 2'
  config and logs: $dir    stop: $stop_cmd
EOF
