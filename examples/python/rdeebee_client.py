#!/usr/bin/python3
"""A small RDeeBee client in Python, from stubs generated out of proto/rdeebee/v1/rdeebee.proto.

Generate the stubs (Debian: python3-grpcio, protobuf-compiler, protobuf-compiler-grpc):

    mkdir -p gen
    protoc --proto_path=../../proto --python_out=gen --grpc_out=gen \
        --plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin ../../proto/rdeebee/v1/rdeebee.proto

then run it with the stubs on the path:

    PYTHONPATH=gen /usr/bin/python3 rdeebee_client.py --server 127.0.0.1:2048 --key Deep

It appends two events (the second with an expected version), reads the latest value and the
history back, shows how an expected-version conflict reports the actual version, and sends five
appends over one AppendStream.
"""
import argparse
import sys

import grpc

from rdeebee.v1 import rdeebee_pb2 as pb
from rdeebee.v1 import rdeebee_pb2_grpc as pb_grpc


def actual_version(error):
    """The actual version carried by a FAILED_PRECONDITION, from the trailing metadata."""
    for key, value in error.trailing_metadata() or ():
        if key == "rdeebee-actual-version":
            return int(value)
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:2048")
    parser.add_argument("--key", default="python-interop")
    parser.add_argument("--timeout", type=float, default=10)
    args = parser.parse_args()

    with grpc.insecure_channel(args.server) as channel:
        store = pb_grpc.EventStoreStub(channel)
        key = args.key.encode()

        first = store.Append(pb.AppendRequest(
            key=key,
            events=[pb.EventInput(payload=b"hello from python", event_type="Greeting")],
            expected_version=pb.ExpectedVersion(kind=pb.EXPECTED_VERSION_KIND_NO_STREAM),
            idempotency_id="py-1"), timeout=args.timeout)
        print(f"append: seq={first.first_seq} version={first.first_version}")

        second = store.Append(pb.AppendRequest(
            key=key,
            events=[pb.EventInput(payload=b"second"), pb.EventInput(payload=b"third")],
            expected_version=pb.ExpectedVersion(kind=pb.EXPECTED_VERSION_KIND_EXACT,
                                                version=first.last_version)),
            timeout=args.timeout)
        print(f"batch: seqs {second.first_seq}..{second.last_seq} "
              f"versions {second.first_version}..{second.last_version}")

        retry = store.Append(pb.AppendRequest(
            key=key, events=[pb.EventInput(payload=b"ignored")], idempotency_id="py-1"),
            timeout=args.timeout)
        assert retry.deduplicated and retry.first_seq == first.first_seq, retry

        try:
            store.Append(pb.AppendRequest(
                key=key, events=[pb.EventInput(payload=b"stale")],
                expected_version=pb.ExpectedVersion(kind=pb.EXPECTED_VERSION_KIND_EXACT,
                                                    version=1)), timeout=args.timeout)
            print("expected a conflict", file=sys.stderr)
            return 1
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.FAILED_PRECONDITION, e
            print(f"conflict: actual version {actual_version(e)} ({e.details()})")

        latest = store.Get(pb.GetRequest(key=key), timeout=args.timeout)
        print(f"get: v{latest.event.version} {latest.event.payload.decode()}")

        history = store.ReadStream(pb.ReadStreamRequest(key=key, limit=100), timeout=args.timeout)
        for e in history.events:
            kind = pb.EventKind.Name(e.kind).replace("EVENT_KIND_", "")
            print(f"{e.seq} {e.key.decode()} v{e.version} {kind} {e.payload.decode()}")

        try:
            store.Get(pb.GetRequest(key=b"no-such-key"), timeout=args.timeout)
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.NOT_FOUND, e

        # AppendStream: many appends on one stream, each with its own ack (by request_id). The
        # fifth expects a version the key does not have: its ack carries the conflict, the others
        # are unaffected.
        stream_key = key + b".stream"
        requests = [pb.AppendStreamRequest(request_id=i, append=pb.AppendRequest(
            key=stream_key, events=[pb.EventInput(payload=f"s{i}".encode())]))
            for i in range(1, 5)]
        requests.append(pb.AppendStreamRequest(request_id=5, append=pb.AppendRequest(
            key=stream_key, events=[pb.EventInput(payload=b"late")],
            expected_version=pb.ExpectedVersion(kind=pb.EXPECTED_VERSION_KIND_EXACT,
                                                version=99))))
        acks = {}
        for response in store.AppendStream(iter(requests), timeout=args.timeout):
            for ack in response.acks:
                acks[ack.request_id] = ack
        ok = sorted(a.result.first_version for a in acks.values() if a.code == 0)
        conflict = acks[5]
        assert conflict.code == grpc.StatusCode.FAILED_PRECONDITION.value[0], conflict
        print(f"stream: {len(acks)} acks, versions {ok}, "
              f"conflict actual version {conflict.actual_version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
