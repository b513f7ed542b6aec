# One job per grid point. The run folder is named by the run's content key, so a run shared by two campaigns is
# trained once, and a change of anything that changes a result gives a new key (a new job); labels (campaign id,
# AIM experiment, device, threads) are no part of a job's parameters. A method's shared pre-step (SimCLR's
# pre-training) is a job of its own, needed by every run that starts from it.


rule train:
    input:
        # The run's splits, flowpic cache and pre-step, as its method declares them (precomputed per run: planning
        # 10 000 runs calls an input function 10 000 times; a paper plan reads several datasets).
        unpack(run_inputs),
    output:
        marker=str(RESULTS / "runs" / "{run_key}" / "marker.json"),
    params:
        # The run's canonical parameters (JSON) and its dataset folder, handed over once, quoted.
        args=run_args,
    threads: THREADS
    resources:
        **RUN_GPU,
        # Explicit, so Snakemake does not size every job from its inputs (a stat of each input, per job, at planning).
        mem_mb=run_memory_mb,
        runtime=run_minutes,
        disk_mb=1000,
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "runs" / "{run_key}.log"),
    benchmark:
        str(LOGS / "runs" / "{run_key}.benchmark.tsv")
    shell:
        f"tcbench run job {{params.args}} --run-dir $(dirname {{output.marker}}) {JOB_OPTIONS} --threads {{threads}} "
        "> {log} 2>&1"


# A pre-step is a run of the pre-step's method: the same command, its own inputs, folder and log.
use rule train as pretrain with:
    input:
        unpack(pre_step_inputs),
    output:
        marker=str(RESULTS / PRE_STEP_KIND / "{pretrain_key}" / "marker.json"),
    params:
        args=pre_step_args,
    resources:
        **PRE_STEP_GPU,
        mem_mb=pre_step_memory_mb,
        runtime=pre_step_minutes,
        disk_mb=1000,
    log:
        str(LOGS / PRE_STEP_KIND / "{pretrain_key}.log"),
    benchmark:
        str(LOGS / PRE_STEP_KIND / "{pretrain_key}.benchmark.tsv")
