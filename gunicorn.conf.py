"""gunicorn's settings for berth, read from the working directory by every gunicorn that
serves it (`make run`, the benchmarks, a production unit started in the checkout).

gunicorn's request limits sit above berth's own (api/intake.py), so that a client whose
request line or header is too long meets berth's problem+json 414 or 431, not gunicorn's
HTML page. gunicorn's line limit cannot go above 8190 bytes (0 would lift it entirely);
beyond that, gunicorn still answers itself.
"""

limit_request_line = 8190  # berth's own: 4094 bytes
limit_request_field_size = 16380  # berth's own: 8190 bytes a header field
limit_request_fields = 200  # berth's own: 100 header fields
# gunicorn 27's control socket lives in the home directory by default: two instances on
# one machine (the demo and a benchmark) would share it
control_socket_disable = True
