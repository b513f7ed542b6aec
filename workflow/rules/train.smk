# One job per grid point. The run folder is named by the run's content key, so a run shared by two campaigns is
# trained once, and every hyper-parameter is a params: value (changing one re-plans exactly the affected runs).


rule aim_template:
    output:
        directory(str(AIM_TEMPLATE)),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "aim_template.log"),
    shell:
        "tcbench campaign aim-template --path {output} > {log} 2>&1"


rule train_monolithic:
    input:
        parquet=str(DATA.parquet),
        info=str(DATA.root / "dataset.json"),
        splits=str(DATA.train_splits(config["splits"]["n_splits"], config["splits"]["samples_per_class"])),
        flowpics=run_flowpics,
        aim_template=str(AIM_TEMPLATE),
    output:
        marker=str(RESULTS / "runs" / "{run_key}" / "marker.json"),
    params:
        dataset_dir=lambda wildcards, input: os.path.dirname(input.parquet),
        run_dir=lambda wildcards, output: os.path.dirname(output.marker),
        n_splits=config["splits"]["n_splits"],
        samples_per_class=config["splits"]["samples_per_class"],
        split_index=run_param("split_index"),
        aug_name=run_param("aug_name"),
        flowpic_dim=run_param("flowpic_dim"),
        seed=run_param("seed"),
        epochs=run_param("epochs"),
        batch_size=run_param("batch_size"),
        learning_rate=run_param("learning_rate"),
        patience_steps=run_param("patience_steps"),
        patience_min_delta=run_param("patience_min_delta"),
        dropout=lambda wildcards: "--with-dropout" if RUNS[wildcards.run_key].params["with_dropout"] else "--no-dropout",
        train_val_split_ratio=run_param("train_val_split_ratio"),
        flowpic_block_duration=run_param("flowpic_block_duration"),
        max_samples_per_class=run_param("max_samples_per_class"),
        leftover=lambda wildcards: "--test-leftover" if RUNS[wildcards.run_key].params["test_leftover"] else "--no-test-leftover",
        experiment=config["experiment"],
    threads: config["resources"]["threads_per_run"]
    resources:
        device=config["resources"]["device"],
    conda:
        "../envs/tcbench.yaml"
    log:
        str(LOGS / "runs" / "{run_key}.log"),
    benchmark:
        str(LOGS / "runs" / "{run_key}.benchmark.tsv")
    shell:
        "tcbench run augment-at-loading --dataset-dir {params.dataset_dir} --run-dir {params.run_dir} "
        "--aim-template {input.aim_template} --n-splits {params.n_splits} --samples-per-class {params.samples_per_class} "
        "--split-index {params.split_index} --aug-name {params.aug_name} --flowpic-dim {params.flowpic_dim} "
        "--seed {params.seed} --epochs {params.epochs} --batch-size {params.batch_size} "
        "--learning-rate {params.learning_rate} --patience-steps {params.patience_steps} "
        "--patience-min-delta {params.patience_min_delta} {params.dropout} "
        "--train-val-split-ratio {params.train_val_split_ratio} --flowpic-block-duration {params.flowpic_block_duration} "
        "--max-samples-per-class {params.max_samples_per_class} {params.leftover} --experiment {params.experiment} "
        "--device {resources.device} --threads {threads} > {log} 2>&1"
