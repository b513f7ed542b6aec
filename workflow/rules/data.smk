# Dataset preparation: the synthetic curated parquet (imported datasets come from `tcbench datasets import`), its
# train splits, and one flowpic cache per resolution.


# An imported dataset is an input that must already exist (common.smk checks it and says how to import it).
if source_of(config).built_by_workflow:

    rule synth_dataset:
        output:
            parquet=str(DATA.parquet),
            info=str(DATA.root / "dataset.json"),
        params:
            out=lambda wildcards, output: os.path.dirname(output.parquet),
            seed=config["dataset"]["synthetic"]["seed"],
            scale=config["dataset"]["synthetic"]["scale"],
            lookalikes="--lookalikes" if config["dataset"]["synthetic"]["lookalikes"] else "--no-lookalikes",
            version=config["dataset"]["synthetic"]["generator_version"],
        conda:
            "../envs/tcbench.yaml"
        log:
            str(DATASET_LOGS / "synth.log"),
        benchmark:
            str(DATASET_LOGS / "synth.benchmark.tsv")
        shell:
            "tcbench datasets synth --output-dir {params.out} --seed {params.seed} --scale {params.scale} "
            "{params.lookalikes} --generator-version {params.version} > {log} 2>&1"


# ucdavis-icdm19 draws its train splits; the other datasets come with index splits from their import.
if DATASET.draws_train_splits:

    rule train_splits:
        input:
            parquet=str(DATA.parquet),
            info=str(DATA.root / "dataset.json"),
        output:
            SPLITS_FILE,
        params:
            dataset_dir=lambda wildcards, input: os.path.dirname(input.parquet),
            n_splits=config["splits"]["n_splits"],
            samples_per_class=config["splits"]["samples_per_class"],
        conda:
            "../envs/tcbench.yaml"
        log:
            str(DATASET_LOGS / "train_splits.log"),
        shell:
            "tcbench datasets splits --dataset-dir {params.dataset_dir} --n-splits {params.n_splits} "
            "--samples-per-class {params.samples_per_class} > {log} 2>&1"


rule flowpics:
    input:
        parquet=str(DATA.parquet),
    output:
        str(DATA.root / "flowpics" / DATA.flowpic_name("{dim}", "{block}")),
    params:
        dataset_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
        dataset=DATA.name,
        min_pkts=DATA.min_pkts,
    conda:
        "../envs/tcbench.yaml"
    log:
        str(DATASET_LOGS / "flowpics_dim{dim}_block{block}.log"),
    benchmark:
        str(DATASET_LOGS / "flowpics_dim{dim}_block{block}.benchmark.tsv")
    shell:
        "tcbench datasets flowpics --dataset-dir {params.dataset_dir} --dataset {params.dataset} "
        "--min-pkts {params.min_pkts} --dim {wildcards.dim} "
        "--block-duration {wildcards.block} > {log} 2>&1"
