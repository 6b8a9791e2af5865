"""A stand-in Mesos master and Marathon, served over real HTTP, for berth's tests and demo.

It imports nothing of berth, so that it can disagree with berth when berth is wrong.

    sim = Simulator(agents=20, seed=0)
    with serve(sim) as leader, serve(sim, leader=leader) as follower:
        requests.get(f"{leader.url}/v2/apps")
"""

from simulator.server import Cluster, ServerHandle, serve, serve_cluster
from simulator.state import Simulator

__all__ = ["Cluster", "ServerHandle", "Simulator", "serve", "serve_cluster"]
