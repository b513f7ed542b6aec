"""What `tcbench datasets info` and `samples-count` tell about the four public datasets: origin, raw format, how to
import, and the reference class counts (the original's datasets: docs/original-behaviour.md, Datasets). The raw
files (URLs, sizes, checksums) and licences are declared in ``tcbench.data.registry``."""

from __future__ import annotations

from tcbench.data import ucdavis

INFO: dict[str, dict[str, str]] = {
    "ucdavis-icdm19": ucdavis.INFO,
    "mirage19": {
        "paper": "Aceto et al., MIRAGE: Mobile-app Traffic Capture and Ground-truth Creation, ICCCS 2019",
        "raw format": "one JSON file per capture session, biflows keyed by 'src_ip,src_port,dst_ip,dst_port,proto' "
                      "with the first 32 packets' payload sizes, directions (0 = upstream) and inter-arrival times",
        "import": "tcbench datasets import mirage19 --raw MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz",
    },
    "mirage22": {
        "paper": "Guarino et al., MIRAGE-COVID-CCMA-2022, IEEE CAMAD 2021",
        "raw format": "one zip per app of JSON biflow files as MIRAGE-2019 with every packet, plus the activity label",
        "import": "tcbench datasets import mirage22 --raw MIRAGE-COVID-CCMA-2022.zip --workers 2",
    },
    "utmobilenet21": {
        "paper": "Heng, Chandrasekhar, Andrews, UTMobileNetTraffic2021, IEEE Networking Letters 3(3), 2021",
        "raw format": "one tshark CSV per capture, one packet per row, in csvs/<partition>/<app>_<action>_<date>_<time>_<id>.csv",
        "import": "tcbench datasets import utmobilenet21 --raw UTMobileNet2021.zip",
    },
}

# Reference flows per class of the unfiltered and filtered files (mirage22: minpkts10 and minpkts1000).
REFERENCE_COUNTS: dict[str, dict[str, dict[str, int]]] = {
    "mirage19": {
        "unfiltered": {"de.motain.iliga": 10810, "com.waze": 11737, "com.duolingo": 8319, "it.subito": 8167,
                       "com.contextlogic.wish": 6507, "com.accuweather.android": 10631,
                       "com.joelapenna.foursquared": 6399, "com.spotify.music": 6431, "com.dropbox.android": 4815,
                       "com.facebook.katana": 5368, "com.iconology.comics": 5516, "com.twitter.android": 4734,
                       "com.google.android.youtube": 6346, "com.pinterest": 4078, "com.tripadvisor.tripadvisor": 3572,
                       "com.facebook.orca": 4018, "com.viber.voip": 2740, "com.trello": 2306, "com.groupon": 1986,
                       "air.com.hypah.io.slither": 3088, "background": 4439},
        "minpkts10": {"de.motain.iliga": 7505, "com.waze": 7214, "com.duolingo": 4583, "it.subito": 4299,
                      "com.contextlogic.wish": 3927, "com.accuweather.android": 3737, "com.joelapenna.foursquared": 3627,
                      "com.spotify.music": 3300, "com.dropbox.android": 3189, "com.facebook.katana": 2878,
                      "com.iconology.comics": 2812, "com.twitter.android": 2805, "com.google.android.youtube": 2728,
                      "com.pinterest": 2450, "com.tripadvisor.tripadvisor": 2052, "com.facebook.orca": 1783,
                      "com.viber.voip": 1618, "com.trello": 1478, "com.groupon": 1174, "air.com.hypah.io.slither": 1013},
    },
    "mirage22": {
        "unfiltered": {"com.cisco.webex.meetings": 4789, "com.skype.raider": 6203, "com.microsoft.teams": 6541,
                       "us.zoom.videomeetings": 5066, "com.discord": 4337, "com.facebook.orca": 4321,
                       "com.gotomeeting": 3695, "com.google.android.apps.meetings": 2252, "com.Slack": 2985,
                       "background": 18882},
        "minpkts10": {"com.cisco.webex.meetings": 4437, "com.skype.raider": 4117, "com.microsoft.teams": 3857,
                      "us.zoom.videomeetings": 3587, "com.discord": 3387, "com.facebook.orca": 2623,
                      "com.gotomeeting": 2557, "com.google.android.apps.meetings": 1238, "com.Slack": 970},
        "minpkts1000": {"com.cisco.webex.meetings": 259, "com.skype.raider": 190, "com.microsoft.teams": 321,
                        "us.zoom.videomeetings": 425, "com.discord": 2220, "com.facebook.orca": 280,
                        "com.gotomeeting": 297, "com.google.android.apps.meetings": 379, "com.Slack": 198},
    },
    "utmobilenet21": {
        "unfiltered": {"youtube": 5591, "google-maps": 4347, "hulu": 1839, "reddit": 4370, "spotify": 2550,
                       "netflix": 2237, "pinterest": 2165, "twitter": 1494, "instagram": 1778, "hangout": 720,
                       "dropbox": 1752, "pandora": 949, "facebook": 1654, "google-drive": 803, "gmail": 1133,
                       "messenger": 837, "skype": 159},
        "minpkts10": {"youtube": 2496, "google-maps": 1798, "hulu": 1169, "reddit": 816, "spotify": 664, "netflix": 483,
                      "pinterest": 436, "twitter": 365, "instagram": 274, "hangout": 254, "dropbox": 238,
                      "pandora": 200, "facebook": 137, "google-drive": 130},
    },
}
