# Dataset preparation: the synthetic curated parquet (imported datasets come from `tcbench datasets import`), its
# train splits, and one flowpic cache per resolution; once per dataset the plan reads (one in a single campaign).


for _root, _c in DATASETS.items():
    # An imported dataset is an input that must already exist (the config checks say how to import it).
    if source_of(_c.config).built_by_workflow:

        rule:
            name:
                _data_rule("synth_dataset", _root)
            output:
                parquet=str(_c.data.parquet),
                info=str(_c.data.root / "dataset.json"),
            params:
                out=lambda wildcards, output: os.path.dirname(output.parquet),
                seed=_c.config["dataset"]["synthetic"]["seed"],
                scale=_c.config["dataset"]["synthetic"]["scale"],
                lookalikes="--lookalikes" if _c.config["dataset"]["synthetic"]["lookalikes"] else "--no-lookalikes",
                version=_c.config["dataset"]["synthetic"]["generator_version"],
            conda:
                "../envs/tcbench.yaml"
            log:
                str(LOGS / "datasets" / _c.data.root.name / "synth.log"),
            benchmark:
                str(LOGS / "datasets" / _c.data.root.name / "synth.benchmark.tsv")
            shell:
                "tcbench datasets synth --output-dir {params.out} --seed {params.seed} --scale {params.scale} "
                "{params.lookalikes} --generator-version {params.version} > {log} 2>&1"

    rule:
        name:
            _data_rule("flowpics", _root)
        input:
            parquet=str(_c.data.parquet),
        output:
            str(_c.data.root / "flowpics" / _c.data.flowpic_name("{dim}", "{block}")),
        params:
            dataset_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(output[0])),
            dataset=_c.data.name,
            min_pkts=_c.data.min_pkts,
        conda:
            "../envs/tcbench.yaml"
        log:
            str(LOGS / "datasets" / _c.data.root.name / "flowpics_dim{dim}_block{block}.log"),
        benchmark:
            str(LOGS / "datasets" / _c.data.root.name / "flowpics_dim{dim}_block{block}.benchmark.tsv")
        shell:
            "tcbench datasets flowpics --dataset-dir {params.dataset_dir} --dataset {params.dataset} "
            "--min-pkts {params.min_pkts} --dim {wildcards.dim} "
            "--block-duration {wildcards.block} > {log} 2>&1"


# ucdavis-icdm19 draws its train splits; the other datasets come with index splits from their import.
for _splits_file, _c in SPLITS.items():

    rule:
        name:
            _splits_rule(_splits_file)
        input:
            parquet=str(_c.data.parquet),
            info=str(_c.data.root / "dataset.json"),
        output:
            _splits_file,
        params:
            dataset_dir=lambda wildcards, input: os.path.dirname(input.parquet),
            n_splits=_c.config["splits"]["n_splits"],
            samples_per_class=_c.config["splits"]["samples_per_class"],
        conda:
            "../envs/tcbench.yaml"
        log:
            str(LOGS / "datasets" / _c.data.root.name / ("train_splits.log" if len(SPLITS) == 1 else f"{Path(_splits_file).stem}.log")),
        shell:
            "tcbench datasets splits --dataset-dir {params.dataset_dir} --n-splits {params.n_splits} "
            "--samples-per-class {params.samples_per_class} > {log} 2>&1"
