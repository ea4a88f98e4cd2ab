"""The benchmark's tools work: the load generator drives the sios bench
server and the floor server through short runs of the bench scenarios, every
client connects and nothing is lost. Figures are not asserted (make bench
measures them)."""
import json
import os
import subprocess

from lib.sios_test import BUILD, Server, run, test

LOADGEN = os.path.join(BUILD, "bench", "loadgen")


def loadgen(srv, *args):
    out = subprocess.run([LOADGEN, "--port", str(srv.port), "--server-pid", str(srv.proc.pid),
                          "--warmup", "0.2", "--duration", "0.5", *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def check(server, args, figure, clients):
    srv = Server(server)
    try:
        res = loadgen(srv, *args, "--clients", str(clients))
        assert res["ready"] == clients, res
        assert res["lost"] == 0, res
        assert res[figure] > 0, res
        assert srv.alive()
    finally:
        srv.stop()


for server in ("bench/bench_server", "bench/floor_server"):
    kind = os.path.basename(server)

    @test
    def echo(server=server):
        check(server, ["--scenario", "echo"], "acks_per_s", 20)
    echo.__doc__ = f"{kind}: echo with acks, closed loop, nothing lost"

    @test
    def fanout(server=server):
        check(server, ["--scenario", "fanout", "--inflight", "4"], "deliveries_per_s", 30)
    fanout.__doc__ = f"{kind}: fan-out, 4 broadcasts in flight, every client gets every one"


@test
def polling():
    """bench_server: echo over long-polling, nothing lost"""
    check("bench/bench_server", ["--scenario", "polling_echo"], "acks_per_s", 10)


@test
def idle():
    """bench_server: idle connections are counted and measured"""
    srv = Server("bench/bench_server")
    try:
        res = loadgen(srv, "--scenario", "idle", "--clients", "50")
        assert res["ready"] == 50 and res["lost"] == 0, res
        assert res["rss_after_kb"] >= res["rss_before_kb"] > 0, res
    finally:
        srv.stop()


run()
