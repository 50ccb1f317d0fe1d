"""The scenario the journey benchmark's in-process overhead figure runs (N_TIMES replaced)."""

SCENARIO_FIXED = """\
name: bench
personas:
  looper:
    steps:
      - name: loop
        repeat:
          times: N_TIMES
          steps:
            - name: get
              request:
                path: /index.html
                headers: {X-Visitor: "v{{ arrival_id }}"}
              expect: {status: 200, text: loadkit bench}  # a body check, as real pages need
              capture: {_len: {header: Content-Length}}
"""
