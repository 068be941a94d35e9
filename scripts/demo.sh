#!/usr/bin/env bash
# Build mod_profiler and start a local apache2 with it on 127.0.0.1.
#
#   bash scripts/demo.sh          build, then start (or restart) the demo
#   bash scripts/demo.sh stop     stop it
#
# PORT=8080 by default. Everything lives in $DEMO_DIR
# (default /tmp/mod_profiler-demo); nothing is installed into the system's
# apache2 configuration.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
port=${PORT:-8080}
dir=${DEMO_DIR:-/tmp/mod_profiler-demo}
httpd=$(command -v apache2 || echo /usr/sbin/apache2)

stop() {
  if [ -f "$dir/run/httpd.pid" ] && kill -0 "$(cat "$dir/run/httpd.pid")" 2>/dev/null; then
    "$httpd" -f "$dir/httpd.conf" -k stop
    for _ in $(seq 50); do
      kill -0 "$(cat "$dir/run/httpd.pid" 2>/dev/null)" 2>/dev/null || break
      sleep 0.1
    done
    echo "demo stopped"
  fi
}

if [ "${1:-start}" = "stop" ]; then stop; exit 0; fi

bash scripts/deps.sh demo
make -s -f Makefile.apxs

stop
mkdir -p "$dir/htdocs/slow" "$dir/logs" "$dir/run" "$dir/db"
chmod 755 "$dir" "$dir/htdocs" "$dir/htdocs/slow"
# The children (www-data when started as root) write the store's file.
chmod 777 "$dir/db"
user_lines=""
if [ "$(id -u)" -eq 0 ]; then user_lines=$'User www-data\nGroup www-data'; fi

cat >"$dir/htdocs/index.html" <<'HTML'
<!doctype html>
<html><head><meta charset="utf-8"><title>mod_profiler demo</title></head>
<body>
<h1>mod_profiler demo</h1>
<p>Open your browser's DevTools, Network tab, select this request and look
at <b>Timing</b>: the <i>Server Timing</i> section lists every phase httpd
went through for it.</p>
<pre id="st"></pre>
<script>
const nav = performance.getEntriesByType('navigation')[0];
document.getElementById('st').textContent = nav.serverTiming
  .map(e => e.name.padEnd(10) + e.duration.toFixed(3) + ' ms').join('\n');
</script>
</body></html>
HTML
# A deep directory tree makes the storage phase (directory walk) visible.
deep="$dir/htdocs/slow/$(printf 'd%d/' $(seq 1 40))"
mkdir -p "$deep" && echo "deep file" >"$deep/f.html"
chmod -R a+rX "$dir/htdocs"

mods=/usr/lib/apache2/modules
cat >"$dir/httpd.conf" <<CONF
ServerRoot $dir
DefaultRuntimeDir $dir/run
PidFile $dir/run/httpd.pid
Listen 127.0.0.1:$port
ServerName 127.0.0.1
$user_lines
LoadModule mpm_event_module $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule mime_module $mods/mod_mime.so
LoadModule dir_module $mods/mod_dir.so
LoadModule http2_module $mods/mod_http2.so
LoadModule dbd_module $mods/mod_dbd.so
LoadModule profiler_module $top/.libs/mod_profiler.so
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

# Every request is stored in an embedded SQLite file. A connection per
# batch (DBDPersist Off) lets the writer recover by itself if the file was
# unwritable for a while.
DBDriver sqlite3
DBDParams $dir/db/profiler.db
DBDPersist Off
ProfilerStore On

# The dashboard and the JSON API, for local clients only.
<Location /profiler>
    SetHandler profiler-report
    Require ip 127.0.0.1 ::1
</Location>
CONF

"$httpd" -f "$dir/httpd.conf" -k start
for _ in $(seq 50); do
  curl -s -o /dev/null "http://127.0.0.1:$port/" && break
  sleep 0.1
done
echo
echo "mod_profiler demo: http://127.0.0.1:$port/"
echo "  curl -sI http://127.0.0.1:$port/ | grep -i server-timing"
echo "  curl -sI http://127.0.0.1:$port/slow/$(printf 'd%d/' $(seq 1 40))f.html | grep -i server-timing"
echo "  dashboard: http://127.0.0.1:$port/profiler/   API: curl -s http://127.0.0.1:$port/profiler/api/v1/summary"
echo "  sqlite3 $dir/db/profiler.db 'SELECT route, count(*), avg(total_us) FROM profiler_requests GROUP BY route'"
echo "  config and logs: $dir    stop: bash scripts/demo.sh stop"
