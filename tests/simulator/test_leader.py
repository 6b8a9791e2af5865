"""Leading and non-leading masters on one simulated cluster."""

from __future__ import annotations

from simulator import ServerHandle, Simulator, serve
from tests.simulator.conftest import Http, sleeper


def test_redirect_points_at_the_leader_scheme_relative(
    sim: Simulator, server: ServerHandle
) -> None:
    with serve(sim, leader=server) as follower:
        for handle in (server, follower):
            response = Http(handle.url).get("/master/redirect", allow_redirects=False)
            assert response.status_code == 307
            assert response.headers["Location"] == f"//{server.host}:{server.port}"
        assert not follower.is_leader and server.is_leader


def test_a_follower_redirects_state_and_slaves_to_the_leader(
    sim: Simulator, server: ServerHandle
) -> None:
    with serve(sim, leader=server) as follower:
        http = Http(follower.url)
        for path in ("/master/state", "/master/slaves", "/state.json"):
            response = http.get(path + "?jsonp=x", allow_redirects=False)
            assert response.status_code == 307
            assert response.headers["Location"] == f"//{server.address}{path}?jsonp=x"
        followed = http.get("/master/state")  # requests resolves the scheme-relative Location
        assert followed.status_code == 200 and followed.url.startswith(server.url)
        state = followed.json()
        assert state["leader"] == state["pid"] == f"master@{server.address}"
        assert state["leader_info"]["port"] == server.port


def test_marathon_paths_are_answered_by_the_follower_too(
    sim: Simulator, server: ServerHandle
) -> None:
    with serve(sim, leader=server) as follower:
        http = Http(follower.url)
        assert http.post("/v2/apps", json=sleeper("/via-follower")).status_code == 201
        assert Http(server.url).get("/v2/apps/via-follower").status_code == 200
        info = http.get("/v2/info").json()
        assert (info["elected"], info["leader"]) == (False, server.address)
        assert Http(server.url).get("/v2/info").json()["elected"] is True
        assert http.get("/v2/leader").json() == {"leader": server.address}


def test_servers_stop_and_free_their_port(sim: Simulator) -> None:
    handle = serve(sim)
    url = handle.url
    assert Http(url).get("/ping").text == "pong"
    handle.shutdown()
    again = serve(sim, port=handle.port)  # the port is free again
    assert again.url == url
    again.shutdown()
