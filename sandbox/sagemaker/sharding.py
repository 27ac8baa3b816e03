"""Which objects each instance of a multi-instance job reads: the S3DataDistributionType contract.

``FullyReplicated``: every instance downloads every object. ``ShardedByS3Key``: "each machine gets
approximately 1/n of the number of S3 objects" (docs: API_S3DataSource); which objects go where is
undocumented, so the emulator deals them out in listing order (object i to host ``algo-<i mod n + 1>``)
and says so in Describe* ``EmulatorInstances``. A batch transform gives each object to one instance
(docs: sagemaker/latest/dg/batch-transform, "distributes the Amazon S3 objects ... across the
instances"), dealt out the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

SHARDED = "ShardedByS3Key"


def hosts(count: int) -> list[str]:
    """SageMaker's host names: ``algo-1`` … ``algo-<count>`` (SM_HOSTS in the training toolkit)."""
    return [f"algo-{index + 1}" for index in range(count)]


def deal(items: Sequence[str], count: int) -> list[list[str]]:
    """``items`` dealt out to ``count`` instances in order: instance i gets items i, i+n, i+2n, …"""
    return [list(items[index::count]) for index in range(count)]


def channel_shares(uris: Sequence[str], distribution: str, count: int) -> list[list[str]]:
    """The objects each of ``count`` training instances reads from one channel."""
    if distribution == SHARDED and count > 1:
        return deal(uris, count)
    return [list(uris) for _ in range(count)]
