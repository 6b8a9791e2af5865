"""python -m simulator: serve a simulated Mesos master and Marathon until SIGINT or SIGTERM.

python -m simulator --bind 127.0.0.1:5050 --agents 20 --demo /test,/integration
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from simulator.demo import populate
from simulator.http import MarathonInstances
from simulator.server import ServerHandle, serve
from simulator.state import Simulator


def _address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host or "127.0.0.1", int(port)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description="A stand-in Mesos master and Marathon over HTTP, for tests and demos.",
    )
    parser.add_argument("--bind", type=_address, default=("127.0.0.1", 5050), metavar="HOST:PORT")
    parser.add_argument(
        "--agents",
        type=_count,
        default=20,
        help="number of Mesos agents (0 is fine: add some later with POST /_sim/agents)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed for agents, ports and ids; two simulators with one seed hand out the same "
        "ids, so give clusters that run side by side seeds of their own",
    )
    parser.add_argument(
        "--deploy-seconds",
        type=float,
        default=0.0,
        help="how long a deployment takes before it finishes",
    )
    parser.add_argument(
        "--follower-bind",
        type=_address,
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="also serve a non-leading master here (repeatable)",
    )
    parser.add_argument(
        "--zk",
        default=None,
        metavar="HOST:PORT/PATH",
        help="register every master in ZooKeeper as Mesos does (json.info_ nodes under PATH); "
        "the lowest node leads",
    )
    parser.add_argument(
        "--marathons",
        type=_count,
        default=1,
        help="Marathon instances: with more than one, each is served on a port of its own "
        "(from --marathon-port on), the first leads, /v2/leader names it",
    )
    parser.add_argument(
        "--marathon-port",
        type=int,
        default=8080,
        help="first port of the Marathon instances when --marathons > 1 (0: any free ports)",
    )
    parser.add_argument(
        "--event-keepalive",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="quiet seconds after which /v2/events sends a keep-alive comment",
    )
    parser.add_argument(
        "--agent-http",
        choices=("on", "off"),
        default="on",
        help="each agent serves GET /monitor/statistics on a loopback port of its own, "
        "advertised in its pid (slave(1)@127.0.0.1:PORT); off: no agent sockets",
    )
    parser.add_argument(
        "--clock-behind",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="start the simulator's clock this far in the past (PUT /_sim/clock moves it on): "
        "the demo samples a day of usage history before berth serves it",
    )
    parser.add_argument(
        "--demo",
        default="",
        metavar="GROUPS",
        help="comma-separated Marathon groups to fill with the demo workload, e.g. /test,/prod",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    behind = max(0.0, args.clock_behind)
    sim = Simulator(
        agents=args.agents,
        seed=args.seed,
        deploy_seconds=args.deploy_seconds,
        now=(lambda: time.time() - behind) if behind else None,
    )
    groups = [g.strip() for g in args.demo.split(",") if g.strip()]
    if groups:
        populate(sim, groups, seed=args.seed)
    host, port = args.bind
    keepalive = args.event_keepalive
    instances = MarathonInstances(sim)
    alone = args.marathons <= 1
    servers: list[ServerHandle] = [
        serve(
            sim,
            host,
            port,
            zk=args.zk,
            marathons=instances,
            event_keepalive=keepalive,
            agent_http=args.agent_http == "on",
        )
    ]
    for follower_host, follower_port in args.follower_bind:
        servers.append(
            serve(
                sim,
                follower_host,
                follower_port,
                leader=servers[0],
                zk=args.zk,
                event_keepalive=keepalive,
            )
        )
    masters = list(servers)
    if not alone:
        instances.remove(servers[0].address)  # the masters only name the Marathon leader
        for master in masters:
            master.context.marathons = instances
        for index in range(args.marathons):
            marathon_port = args.marathon_port + index if args.marathon_port else 0
            servers.append(
                serve(
                    sim,
                    host,
                    marathon_port,
                    leader=servers[0],
                    marathons=instances,
                    event_keepalive=keepalive,
                )
            )
    followers = " ".join(f"follower {s.url}" for s in masters[1:])
    marathons = "" if alone else " marathon " + " ".join(s.url for s in servers[len(masters) :])
    print(
        f"simulator: leader {servers[0].url} {followers}".rstrip()
        + marathons
        + f" ({args.agents} agents, seed {args.seed}, {len(sim.apps)} apps)",
        file=sys.stderr,
        flush=True,
    )
    # a flag, not a threading.Event: a second signal arriving while the handler is inside
    # Event.set() would deadlock on the Event's own lock (Ctrl-C, then run-demo's SIGTERM)
    stopped: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stopped.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    while not stopped:
        time.sleep(0.1)
    for server in reversed(servers):
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
