# One job per grid point. The run folder is named by the run's content key, so a run shared by two campaigns is
# trained once, and every hyper-parameter is a params: value (changing one re-plans exactly the affected runs).
# SimCLR runs finetune from a pre-training job of their own, shared by every finetune seed that uses it.


rule aim_template:
    output:
        directory(str(AIM_TEMPLATE)),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "aim_template.log"),
    shell:
        "tcbench campaign aim-template --path {output} > {log} 2>&1"


rule pretrain:
    input:
        parquet=str(DATA.parquet),
        info=str(DATA.root / "dataset.json"),
        splits=split_file(),
        flowpics=pretrain_flowpics,
    output:
        marker=str(RESULTS / "pretrain" / "{pretrain_key}" / "marker.json"),
    params:
        dataset_dir=lambda wildcards, input: os.path.dirname(input.info),
        run_dir=lambda wildcards, output: os.path.dirname(output.marker),
        args=lambda wildcards: run_arguments(PRETRAINS[wildcards.pretrain_key]),
    threads: config["resources"]["threads_per_run"]
    resources:
        device=config["resources"]["device"],
        gpu=int(config["resources"]["device"].startswith("cuda")),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "pretrain" / "{pretrain_key}.log"),
    benchmark:
        str(LOGS / "pretrain" / "{pretrain_key}.benchmark.tsv")
    shell:
        "tcbench run {params.args} --dataset-dir {params.dataset_dir} --run-dir {params.run_dir} "
        "--device {resources.device} --threads {threads} > {log} 2>&1"


rule train:
    input:
        # The run's flowpic cache and SimCLR pre-training, from one input function: planning 10 000 runs calls it
        # 10 000 times.
        unpack(run_inputs),
        parquet=str(DATA.parquet),
        info=str(DATA.root / "dataset.json"),
        splits=split_file(),
        aim_template=str(AIM_TEMPLATE),
    output:
        marker=str(RESULTS / "runs" / "{run_key}" / "marker.json"),
    params:
        # Every hyper-parameter of the run as `tcbench run` options (see tcbench.campaign.commands).
        args=lambda wildcards: RUN_ARGUMENTS[wildcards.run_key],
        experiment=EXPERIMENT,
    threads: config["resources"]["threads_per_run"]
    resources:
        device=config["resources"]["device"],
        gpu=GPUS_PER_RUN,
        # Explicit, so Snakemake does not size every job from its inputs (a stat of each input, per job, at planning).
        mem_mb=lambda wildcards, attempt: RUN_MEMORY_MB[wildcards.run_key] * attempt,
        runtime=lambda wildcards, attempt: RUN_MINUTES[wildcards.run_key] * attempt,
        disk_mb=1000,
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "runs" / "{run_key}.log"),
    benchmark:
        str(LOGS / "runs" / "{run_key}.benchmark.tsv")
    shell:
        "tcbench run {params.args} --dataset-dir $(dirname {input.info}) --run-dir $(dirname {output.marker}) "
        "--aim-template {input.aim_template} --experiment {params.experiment} "
        "--device {resources.device} --threads {threads} > {log} 2>&1"
