# Campaign outputs: the per-run AIM repos merged into one labelled repo, the summary tables and plots, the analysis
# (paired comparisons, critical-difference diagrams, the paper side by side) and the campaign's report page; one set
# per campaign of the plan (rule names carry the campaign id when a paper config plans several).

for _c in CAMPAIGNS:

    # First into the campaign folder: which runs it is made from (a campaign id names one grid, tcbench.campaign.folder).
    rule:
        name:
            f"campaign_manifest{_c.rule}"
        output:
            _c.manifest,
        params:
            # The record itself: a change (another grid, other settings) reruns this step and those after it.
            record=json.dumps(_c.record, sort_keys=True, default=str),
        localrule: True
        # Before any run: the paper page reads a campaign's progress (k of n runs done) from this file, and in a
        # paper the runs a campaign shares with another may otherwise finish hours before it is written.
        priority: 100
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "manifest.log"),
        shell:
            "tcbench campaign write-manifest --output {output:q} {params.record:q} > {log} 2>&1"

    rule:
        name:
            f"merge_campaign{_c.rule}"
        input:
            manifest=_c.manifest,
            # After the summary, which reads every marker: the markers are given to the command, not looked up as
            # inputs a second time (a paper plan has thousands).
            runsinfo=_c.runsinfo,
        output:
            report=str(_c.merge_report),
        params:
            markers=_c.markers,
            campaign_id=_c.id,
            experiment=_c.experiment_option,
            dst=lambda wildcards, output: os.path.join(os.path.dirname(output.report), "aim"),
        localrule: True
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "merge.log"),
        benchmark:
            str(_c.logs / "merge.benchmark.tsv")
        shell:
            "tcbench campaign merge --campaign-id {params.campaign_id} {params.experiment} --dst {params.dst} "
            "--report {output.report} {params.markers} > {log} 2>&1"

    rule:
        name:
            f"campaign_summary{_c.rule}"
        input:
            manifest=_c.manifest,
            markers=_c.markers,
        output:
            _c.summary_files,
        params:
            campaign_id=_c.id,
            experiment=_c.experiment_option,
            out=lambda wildcards, output: os.path.dirname(output[0]),
            metrics=",".join(_c.config["report"]["metrics"]),
        localrule: True
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "summary.log"),
        shell:
            "tcbench campaign summary --campaign-id {params.campaign_id} {params.experiment} --output-dir {params.out} "
            "--metrics {params.metrics} --quiet {input.markers} > {log} 2>&1"

    rule:
        name:
            f"campaign_plots{_c.rule}"
        input:
            summaries=_c.summary_csv,
        output:
            accuracy=report(_c.accuracy_plot, caption="../report/accuracy.rst", category="Accuracy", subcategory=_c.sub),
            confusion=[report(p, caption="../report/confusion.rst", category="Confusion matrices", subcategory=_c.sub)
                       for p in _c.confusion_plots],
            tables=[report(p, caption="../report/summary.rst", category="Summary", subcategory=_c.sub)
                    for p in _c.summary_tables],
        params:
            campaign_id=_c.id,
            # The markers (after the summary, made from them): given to the command, not looked up as inputs again.
            markers=_c.markers,
            out=lambda wildcards, output: os.path.dirname(output.accuracy),
        localrule: True
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "plots.log"),
        shell:
            "tcbench campaign plots --campaign-id {params.campaign_id} --output-dir {params.out} "
            "$(printf -- '--summary-csv %s ' {input.summaries}) {params.markers} > {log} 2>&1"

    rule:
        name:
            f"campaign_analysis{_c.rule}"
        input:
            runsinfo=_c.runsinfo,
        output:
            tables=[f for f in _c.analysis_files if f.endswith(".csv")],
            figures=[report(p, caption=analysis_caption(p), category="Comparisons", subcategory=_c.sub)
                     for p in _c.analysis_files if p.endswith(".png")],
        params:
            # the campaign folder, above campaign_summary/
            campaign_dir=lambda wildcards, input: os.path.dirname(os.path.dirname(input.runsinfo[0])),
            metrics=",".join(_c.config["report"]["metrics"]),
            options=_c.analysis_options,
            title=_c.id,
        localrule: True
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "analysis.log"),
        shell:
            "tcbench campaign analyze --campaign-dir {params.campaign_dir} --metrics {params.metrics} {params.options} "
            "--title {params.title:q} {input.runsinfo} > {log} 2>&1"

    rule:
        name:
            f"campaign_report{_c.rule}"
        input:
            runsinfo=_c.runsinfo,
            analysis=_c.analysis_files,
            summaries=_c.summary_csv,
            merged=str(_c.merge_report),
        output:
            report(_c.report_page, caption="../report/report_page.rst", category="Campaign report", subcategory=_c.sub),
        params:
            markers=_c.markers,  # after the summary and the merge, which read them
            config=json.dumps(lasting_settings(_c.config), sort_keys=True),
            campaign_dir=lambda wildcards, output: os.path.dirname(output[0]),
        localrule: True
        conda:
            "../envs/tcbench.yaml"
        log:
            str(_c.logs / "report.log"),
        benchmark:
            str(_c.logs / "report.benchmark.tsv")
        shell:
            "tcbench campaign report --config-json {params.config:q} --campaign-dir {params.campaign_dir} --output {output} "
            "$(printf -- '--runsinfo %s ' {input.runsinfo}) {params.markers} > {log} 2>&1"
