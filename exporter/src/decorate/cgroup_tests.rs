//! `/proc/<pid>/cgroup` contents as each runtime and cgroup driver writes them (captured from
//! kubelet nodes and Docker hosts; ids and uids kept in their real shape).

use super::*;

const CID: &str = "7c2ef4ab5d6a6e0c3b1f0d9e8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b";
const UID: &str = "5f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";

fn expect(contents: &str, runtime: Runtime, pod_uid: Option<&str>) {
    let got = parse(contents).unwrap_or_else(|| panic!("no container in {contents:?}"));
    assert_eq!(got.id.as_str(), CID, "{contents}");
    assert_eq!(got.runtime, runtime, "{contents}");
    assert_eq!(got.pod_uid.as_deref(), pod_uid, "{contents}");
}

#[test]
fn containerd_v2_systemd_driver() {
    let c = format!(
        "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{CID}.scope\n",
        UID.replace('-', "_")
    );
    expect(&c, Runtime::Containerd, Some(UID));
}

#[test]
fn containerd_v2_cgroupfs_driver() {
    expect(&format!("0::/kubepods/besteffort/pod{UID}/{CID}\n"), Runtime::Unknown, Some(UID));
}

#[test]
fn containerd_v2_guaranteed_qos_has_no_qos_slice() {
    let c = format!("0::/kubepods.slice/kubepods-pod{}.slice/cri-containerd-{CID}.scope\n", UID.replace('-', "_"));
    expect(&c, Runtime::Containerd, Some(UID));
}

#[test]
fn containerd_v2_seen_from_another_cgroup_namespace() {
    // What a DaemonSet pod (own cgroup namespace, hostPID) reads for a process of another pod.
    let c = format!("0::/../../kubepods-besteffort-pod{}.slice/cri-containerd-{CID}.scope\n", UID.replace('-', "_"));
    expect(&c, Runtime::Containerd, Some(UID));
}

#[test]
fn containerd_kind_node_nested_and_sub_cgroup() {
    // kind runs kubelet inside a container; systemd-managed payloads may add an `init` leaf.
    let c = format!(
        "0::/system.slice/docker-{}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/\
         kubelet-kubepods-besteffort-pod{}.slice/cri-containerd-{CID}.scope/init\n",
        "a".repeat(64),
        UID.replace('-', "_")
    );
    expect(&c, Runtime::Containerd, Some(UID));
}

#[test]
fn crio_v2_systemd_driver_and_conmon() {
    let uid = UID.replace('-', "_");
    let c =
        format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice/crio-{CID}.scope\n");
    expect(&c, Runtime::CriO, Some(UID));
    let conmon = format!(
        "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice/crio-conmon-{CID}.scope\n"
    );
    assert_eq!(parse(&conmon), None, "conmon is the runtime's monitor, not the container");
}

#[test]
fn crio_v2_cgroupfs_driver() {
    expect(&format!("0::/kubepods/burstable/pod{UID}/crio-{CID}\n"), Runtime::CriO, Some(UID));
}

#[test]
fn docker_v2_systemd_and_cgroupfs_drivers() {
    expect(&format!("0::/system.slice/docker-{CID}.scope\n"), Runtime::Docker, None);
    expect(&format!("0::/docker/{CID}\n"), Runtime::Docker, None);
}

#[test]
fn podman_v2() {
    let c = format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{CID}.scope/container\n");
    expect(&c, Runtime::Podman, None);
}

#[test]
fn containerd_v1_cgroupfs_driver() {
    let c = format!(
        "12:hugetlb:/kubepods/burstable/pod{UID}/{CID}
11:memory:/kubepods/burstable/pod{UID}/{CID}
10:cpu,cpuacct:/kubepods/burstable/pod{UID}/{CID}
9:pids:/kubepods/burstable/pod{UID}/{CID}
8:net_cls,net_prio:/kubepods/burstable/pod{UID}/{CID}
2:rdma:/
1:name=systemd:/kubepods/burstable/pod{UID}/{CID}
0::/
"
    );
    expect(&c, Runtime::Unknown, Some(UID));
}

#[test]
fn containerd_v1_systemd_driver() {
    let uid = UID.replace('-', "_");
    let p = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid}.slice/cri-containerd-{CID}.scope"
    );
    let c = format!("11:devices:{p}\n10:memory:{p}\n4:cpu,cpuacct:{p}\n1:name=systemd:{p}\n0::/\n");
    expect(&c, Runtime::Containerd, Some(UID));
}

#[test]
fn crio_v1_systemd_driver() {
    let uid = UID.replace('-', "_");
    let p = format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{uid}.slice/crio-{CID}.scope");
    expect(&format!("9:memory:{p}\n3:pids:{p}\n1:name=systemd:{p}\n"), Runtime::CriO, Some(UID));
}

#[test]
fn docker_v1_cgroupfs_and_systemd_drivers() {
    let c = format!("13:pids:/docker/{CID}\n6:memory:/docker/{CID}\n1:name=systemd:/docker/{CID}\n0::/system.slice/containerd.service\n");
    expect(&c, Runtime::Docker, None);
    let c = format!("8:memory:/system.slice/docker-{CID}.scope\n1:name=systemd:/system.slice/docker-{CID}.scope\n");
    expect(&c, Runtime::Docker, None);
}

#[test]
fn cri_dockerd_v1_under_kubepods() {
    let c =
        format!("7:memory:/kubepods/besteffort/pod{UID}/{CID}\n1:name=systemd:/kubepods/besteffort/pod{UID}/{CID}\n");
    expect(&c, Runtime::Unknown, Some(UID));
}

#[test]
fn hosts_processes_have_no_container() {
    for c in [
        "0::/user.slice/user-0.slice/session-3.scope\n",
        "0::/system.slice/sshd.service\n",
        "0::/init.scope\n",
        "0::/\n",
        "12:memory:/user.slice\n1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n0::/\n",
        // The pod-level cgroup itself (a sandbox's pause process under cgroupfs lives below it).
        &format!("0::/kubepods/besteffort/pod{UID}\n"),
    ] {
        assert_eq!(parse(c), None, "{c}");
    }
}

#[test]
fn malformed_input_is_no_container_not_a_panic() {
    for c in [
        "",
        "garbage",
        "0:",
        "::::",
        &format!("0::/docker/{}\n", &CID[..63]),
        &format!("0::/docker/{}\n", CID.to_uppercase()),
        &format!("0::/system.slice/docker-{CID}x.scope\n"),
        "0::/kubepods/besteffort/podnot-a-uid/\u{fffd}\n",
    ] {
        assert_eq!(parse(c), None, "{c:?}");
    }
}

#[test]
fn status_container_ids() {
    assert_eq!(ContainerId::from_status(&format!("containerd://{CID}")).map(|c| c.0), Some(CID.to_string()));
    assert_eq!(ContainerId::from_status(&format!("cri-o://{CID}")).map(|c| c.0), Some(CID.to_string()));
    assert_eq!(ContainerId::from_status(&format!("docker://{CID}")).map(|c| c.0), Some(CID.to_string()));
    assert_eq!(ContainerId::from_status("containerd://"), None);
    assert_eq!(ContainerId::from_status(""), None);
}

#[test]
fn reads_this_process() {
    // Whatever this test runs in, reading must not fail loudly; a bogus pid is no container.
    let _ = read(Path::new("/proc"), std::process::id());
    assert_eq!(read(Path::new("/proc"), u32::MAX), None);
}
