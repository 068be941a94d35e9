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
