"""One Spark stage that fetches every URL of a file through `corral fetch`, a partition per
process, with RDD.pipe; records are written as text files, one per partition.

    spark_fetch.py URLS CORRAL OUT_DIR PARTITIONS

Spark numbers the lines (zipWithIndex) and sends each partition to corral as JSON lines,
{"i": index, "url": ...}; `--index-field i` makes every record keep its line's index in the
whole file, so `corral report --check N` over all the partitions' records checks the whole.
"""

import json
import shlex
import sys
import time

from pyspark.sql import SparkSession


def main() -> None:
    urls, corral, out_dir, partitions = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    spark = (
        SparkSession.builder.master(f"local[{partitions}]")
        .appName("corral-fetch")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    start = time.monotonic()
    rows = (
        sc.textFile(urls, partitions)
        .zipWithIndex()
        .map(lambda p: json.dumps({"i": p[1], "url": p[0]}))
        .coalesce(partitions)
    )
    # Exit 1 only says that some request failed: the records say which. Anything else (2: bad
    # usage, a crash) fails the stage.
    fetch = (
        f"{shlex.quote(corral)} fetch -q -c 50 -o jsonl -i - --input-format jsonl --index-field i"
    )
    # RDD.pipe splits the command with shlex and runs it with an empty environment (no PATH).
    command = shlex.join(["/bin/sh", "-c", f"{fetch}; s=$?; [ $s -le 1 ] || exit $s"])
    records = rows.pipe(command, checkCode=True)
    records.saveAsTextFile(out_dir)
    took = time.monotonic() - start
    print(f"spark: {rows.getNumPartitions()} partitions, stage took {took:.2f} s")
    spark.stop()


if __name__ == "__main__":
    main()
