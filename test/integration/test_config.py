"""Bad directive values stop `apache2 -t` with a message naming the directive."""
import pytest

from harness import Httpd


def configtest(body):
    srv = Httpd(body, name="configtest")
    try:
        return srv.configtest()
    finally:
        srv.cleanup()


@pytest.mark.parametrize("line,needle", [
    ("Profiler maybe", "Profiler: 'maybe' is not valid; use On or Off"),
    ("Profiler 1", "Profiler: '1' is not valid; use On or Off"),
    ("Profiler", "Profiler takes one argument"),
    ("Profiler On Off", "Profiler takes one argument"),
    ("ProfilerServerTiming sometimes",
     "ProfilerServerTiming: 'sometimes' is not valid; use On, Off or expr=<expression>"),
    ("ProfilerServerTiming expr=", "ProfilerServerTiming: expr= needs an expression"),
    ("ProfilerServerTiming \"expr=%{HTTP:X\"",
     "ProfilerServerTiming: cannot parse expression '%{HTTP:X'"),
    ("ProfilerServerTiming \"expr=-R 'not-an-ip'\"",
     "ProfilerServerTiming: cannot parse expression"),
    ("ProfilerServerTimingMaxSize 10",
     "ProfilerServerTimingMaxSize: '10' is not valid; use a number of bytes from 32 to 65536"),
    ("ProfilerServerTimingMaxSize 65537", "ProfilerServerTimingMaxSize: '65537' is not valid"),
    ("ProfilerServerTimingMaxSize 4k", "ProfilerServerTimingMaxSize: '4k' is not valid"),
    ("ProfilerServerTimingMaxSize -1", "ProfilerServerTimingMaxSize: '-1' is not valid"),
    ("ProfilerServerTimingMaxSize 99999999999999999999999",
     "ProfilerServerTimingMaxSize: '99999999999999999999999' is not valid"),
    ("<Location /x>\nProfiler perhaps\n</Location>", "Profiler: 'perhaps' is not valid"),
    ("ProfilerUpstreamTiming keep",
     "ProfilerUpstreamTiming: 'keep' is not valid; use merge, pass or drop"),
    ("ProfilerUpstreamPrefix \"be \"", "ProfilerUpstreamPrefix: 'be ' is not valid"),
    ("ProfilerUpstreamPrefix a;b", "ProfilerUpstreamPrefix: 'a;b' is not valid"),
    ("ProfilerMaxSpans many", "ProfilerMaxSpans: 'many' is not valid; use a number of spans from 0 to 4096"),
    ("ProfilerMaxSpans 4097", "ProfilerMaxSpans: '4097' is not valid"),
    ("<Location /x>\nProfilerMaxSpans 8\n</Location>",
     "ProfilerMaxSpans not allowed in <Location> context"),
    ("ProfilerTraceContext maybe", "ProfilerTraceContext must be On or Off"),
    ("ProfilerModuleTiming maybe",
     "ProfilerModuleTiming: 'maybe' is not valid; use On or Off"),
    ("<Location /x>\nProfilerModuleTiming On\n</Location>",
     "ProfilerModuleTiming not allowed in <Location> context"),
    ("ProfilerModuleTimingMin -1",
     "ProfilerModuleTimingMin: '-1' is not valid; use milliseconds from 0 "
     "to 3600000"),
    ("ProfilerModuleTimingMin 0.1ms", "ProfilerModuleTimingMin: '0.1ms' is not valid"),
    ("ProfilerModuleTimingMin nan", "ProfilerModuleTimingMin: 'nan' is not valid"),
    ("ProfilerModuleTimingMin 1e99", "ProfilerModuleTimingMin: '1e99' is not valid"),
    ("<Location /x>\nProfilerTraceContext On\n</Location>",
     "ProfilerTraceContext not allowed in <Location> context"),
    ("ProfilerServerTimingTraceparent 1",
     "ProfilerServerTimingTraceparent must be On or Off"),
    ("ProfilerOTLPEndpoint otel:4318", "ProfilerOTLPEndpoint: 'otel:4318' is not valid"),
    ("ProfilerOTLPEndpoint ftp://otel/v1/traces",
     "ProfilerOTLPEndpoint: 'ftp://otel/v1/traces' is not valid; use an http:// or https:// URL"),
    ("ProfilerOTLPProtocol grpc",
     "ProfilerOTLPProtocol: 'grpc' is not valid; use http/protobuf or http/json"),
    ("ProfilerOTLPCompression zstd", "ProfilerOTLPCompression: 'zstd' is not valid"),
    ("ProfilerOTLPSample 1.5", "ProfilerOTLPSample: '1.5' is not valid; use a fraction from 0 to 1"),
    ("ProfilerOTLPSample half", "ProfilerOTLPSample: 'half' is not valid"),
    ("ProfilerOTLPQueue 0", "ProfilerOTLPQueue: '0' is not valid"),
    ("ProfilerOTLPBatch 10 0", "ProfilerOTLPBatch: '0' is not valid"),
    ("ProfilerOTLPTimeout 2s", "ProfilerOTLPTimeout: '2s' is not valid"),
    ("ProfilerOTLPHeader \"bad name\" v", "ProfilerOTLPHeader: 'bad name' is not a valid header name"),
    ("ProfilerOTLPHeader Content-Type text/plain",
     "ProfilerOTLPHeader: Content-Type is the exporter's own header"),
    ("ProfilerOTLPCACertificateFile /nonexistent/ca.pem",
     "ProfilerOTLPCACertificateFile: '/nonexistent/ca.pem' is not a readable file"),
    ("<VirtualHost 127.0.0.1:@PORT@>\nProfilerOTLPEndpoint http://a/v1/traces\n</VirtualHost>",
     "ProfilerOTLPEndpoint cannot occur within <VirtualHost> section"),
])
def test_bad_value_fails_configtest(line, needle):
    res = configtest(line)
    out = res.stdout + res.stderr
    assert res.returncode != 0, out
    assert needle in out, out


@pytest.mark.parametrize("line", [
    "Profiler On", "Profiler off", "ProfilerServerTiming ON",
    "ProfilerServerTiming \"expr=-R '10.0.0.0/8' || %{HTTP:X-Debug} == 'yes'\"",
    "ProfilerServerTimingMaxSize 32", "ProfilerServerTimingMaxSize 65536",
    "<VirtualHost 127.0.0.1:@PORT@>\nProfiler On\n<Location /a>\nProfiler Off\n"
    "ProfilerServerTiming On\n</Location>\n</VirtualHost>",
    "<Directory /tmp>\nProfiler On\nProfilerServerTimingMaxSize 100\n</Directory>",
    "ProfilerUpstreamTiming PASS", "ProfilerUpstreamPrefix be-",
    "ProfilerUpstreamPrefix none", "ProfilerMaxSpans 0", "ProfilerMaxSpans 4096",
    "ProfilerModuleTiming On", "ProfilerModuleTiming off",
    "ProfilerModuleTimingMin 0", "ProfilerModuleTimingMin 2.5",
    "<VirtualHost 127.0.0.1:@PORT@>\nProfilerMaxSpans 8\n</VirtualHost>",
])
def test_good_value_passes_configtest(line):
    res = configtest(line)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Syntax OK" in res.stdout + res.stderr


def test_not_allowed_in_htaccess():
    # Timing policy is the operator's, not a directory owner's.
    srv = Httpd("AccessFileName .htaccess\n<Directory @ROOT@/htdocs>\n"
                "AllowOverride All\n</Directory>\nProfiler On\n"
                "ProfilerServerTiming On\n", name="htaccess")
    srv.write("sub/.htaccess", "ProfilerServerTiming Off\n")
    srv.write("sub/index.html", "x")
    try:
        srv.start()
        import urllib.error
        import urllib.request
        try:
            urllib.request.urlopen(srv.url("/sub/index.html"))
            status = 200
        except urllib.error.HTTPError as e:
            status = e.code
        assert status == 500
        assert "ProfilerServerTiming not allowed here" in srv.read_error_log()
    finally:
        srv.cleanup()


# -- ProfilerServerTiming where Profiler is Off: a warning at -t -----------

def configtest_out(body):
    srv = Httpd(body, name="configcheck")
    try:
        res = srv.configtest()
        with open(srv.conf) as f:
            lines = f.read().splitlines()
        return res, srv.conf, lines
    finally:
        srv.cleanup()


def line_of(lines, text, after=0):
    return next(i + 1 for i, l in enumerate(lines) if i >= after and text in l)


def test_server_timing_under_profiler_off_warns_at_configtest():
    res, conf, lines = configtest_out(
        "Profiler On\n"
        "<Location /quiet>\n    Profiler \"Off\"\n"
        "    ProfilerServerTiming On\n</Location>\n"
        "<Directory /tmp>\n    Profiler off\n"
        "    ProfilerServerTiming \"expr=%{HTTP:X-Debug} == 'yes'\"\n"
        "</Directory>\n")
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Syntax OK" in out, out
    loc = line_of(lines, "<Location /quiet>")
    st = line_of(lines, "ProfilerServerTiming On", loc)
    off = line_of(lines, "Profiler \"Off\"", loc)
    assert ("PROF00121: ProfilerServerTiming On at %s:%d, in <Location /quiet> "
            "(%s:%d), has no effect: Profiler is Off there (%s:%d)"
            % (conf, st, conf, loc, conf, off)) in out, out
    d = line_of(lines, "<Directory /tmp>")
    assert ("in <Directory /tmp> (%s:%d), has no effect" % (conf, d)) in out, out
    assert out.count("PROF00121") == 2, out


def test_server_timing_where_profiler_is_on_nowhere_warns():
    res, conf, lines = configtest_out(
        "ProfilerServerTiming On\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName v.test\n"
        "    <Location /v>\n        ProfilerServerTiming On\n"
        "    </Location>\n</VirtualHost>\n")
    out = res.stdout + res.stderr
    assert res.returncode == 0, out
    assert ("PROF00120: ProfilerServerTiming On at %s:%d, in the server "
            "configuration, has no effect: Profiler is On nowhere in this "
            "server" % (conf, line_of(lines, "ProfilerServerTiming On"))) in out
    assert "in <Location /v> (%s:%d)" % (conf, line_of(lines, "<Location /v>")) in out
    assert out.count("PROF0012") == 2, out


@pytest.mark.parametrize("body", [
    # the usual: the header everywhere, the profiler where wanted
    "ProfilerServerTiming On\n<Location /app>\nProfiler On\n</Location>",
    # Off for a place, the header inherited from the server: not a mistake
    "Profiler On\nProfilerServerTiming On\n<Location /off>\nProfiler Off\n"
    "</Location>",
    # Off around, On again inside
    "<Location /a>\nProfiler Off\nProfilerServerTiming On\n<If \"true\">\n"
    "Profiler On\n</If>\n</Location>",
    # a vhost that turns it on for itself
    "Profiler Off\n<VirtualHost 127.0.0.1:@PORT@>\nServerName v.test\n"
    "Profiler On\nProfilerServerTiming On\n</VirtualHost>",
    "Profiler On\nProfilerServerTiming Off\n<Location /x>\nProfiler Off\n"
    "ProfilerServerTiming Off\n</Location>",
    # the main server's setting, inherited by a vhost that turns it on
    "ProfilerServerTiming On\n<VirtualHost 127.0.0.1:@PORT@>\n"
    "ServerName v.test\nProfiler On\n</VirtualHost>",
])
def test_no_warning_where_the_header_can_be_sent(body):
    res, _, _ = configtest_out(body)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Syntax OK" in out, out
    assert "PROF0012" not in out, out


def test_the_warning_is_logged_once_at_startup_and_again_on_restart():
    import time
    srv = Httpd("Profiler On\n<Location /quiet>\nProfiler Off\n"
                "ProfilerServerTiming On\n</Location>\n", name="configwarn")
    try:
        srv.start()
        assert srv.read_error_log().count("PROF00121") == 1
        srv.graceful_restart()
        deadline = time.time() + 15
        while srv.read_error_log().count("PROF00121") < 2 \
                and time.time() < deadline:
            time.sleep(0.1)
        assert srv.read_error_log().count("PROF00121") == 2
        srv.stop()
        # not on the console as well
        assert "PROF00121" not in srv.proc.stdout.read()
    finally:
        srv.cleanup()


@pytest.mark.parametrize("vhost_on, warnings", [("", 2), ("Profiler On", 0)])
def test_trace_context_where_profiler_is_on_nowhere_warns(vhost_on, warnings):
    res, conf, lines = configtest_out(
        "ProfilerTraceContext On\n"
        "<VirtualHost 127.0.0.1:@PORT@>\n    ServerName v.test\n"
        "    ProfilerTraceContext On\n    %s\n</VirtualHost>\n" % vhost_on)
    out = res.stdout + res.stderr
    assert res.returncode == 0 and "Syntax OK" in out, out
    # No request has a profile to carry the trace: said for each, with
    # its place. Profiler On in the vhost: its requests have one, and the
    # main server's setting is what the vhost inherits.
    assert out.count("PROF00391") == warnings, out
    if warnings:
        assert ("PROF00391: ProfilerTraceContext On at %s:%d, in the server "
                "configuration, has no effect: Profiler is On nowhere in "
                "this server" % (conf, line_of(lines, "ProfilerTraceContext On"))
                ) in out, out
