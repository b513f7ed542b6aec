# One job per grid point. The run folder is named by the run's content key, so a run shared by two campaigns is
# trained once, and a change of anything that changes a result gives a new key (a new job); labels (campaign id,
# AIM experiment, device, threads) are no part of a job's parameters. A method's shared pre-step (SimCLR's
# pre-training) is a job of its own, needed by every run that starts from it.


rule aim_template:
    output:
        directory(str(AIM_TEMPLATE)),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "aim_template.log"),
    shell:
        "tcbench campaign aim-template --path {output} > {log} 2>&1"


rule train:
    input:
        # The run's flowpic cache and pre-step, as its method declares them (precomputed per run: planning 10 000
        # runs calls an input function 10 000 times).
        # (the dataset's info, standing for its parquet, and splits included: a paper plan reads several datasets).
        unpack(run_inputs),
        aim_template=str(AIM_TEMPLATE),
    output:
        marker=str(RESULTS / "runs" / "{run_key}" / "marker.json"),
    params:
        # The run's canonical parameters (JSON), handed over once: exactly what its key is the hash of.
        run=run_json,
    threads: THREADS
    resources:
        device=DEVICE,
        gpu=RUN_GPU,
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
        "tcbench run job {params.run:q} --dataset-dir $(dirname {input.info}) --run-dir $(dirname {output.marker}) "
        "--aim-template {input.aim_template} --device {resources.device} --threads {threads} > {log} 2>&1"


# A pre-step is a run of the pre-step's method: the same command, its own inputs, folder and log.
use rule train as pretrain with:
    input:
        unpack(pre_step_inputs),
        aim_template=str(AIM_TEMPLATE),
    output:
        marker=str(RESULTS / PRE_STEP_KIND / "{pretrain_key}" / "marker.json"),
    params:
        # The pre-step's canonical parameters (JSON), handed over once.
        run=pre_step_json,
    resources:
        device=DEVICE,
        gpu=PRE_STEP_GPU,
        mem_mb=pre_step_memory_mb,
        runtime=pre_step_minutes,
        disk_mb=1000,
    log:
        str(LOGS / PRE_STEP_KIND / "{pretrain_key}.log"),
    benchmark:
        str(LOGS / PRE_STEP_KIND / "{pretrain_key}.benchmark.tsv")
